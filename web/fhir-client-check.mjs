// Drives the patient-facing FHIR API with fhir-kit-client, a FHIR client
// library this project did not write: node fhir-client-check.js BASE TOKEN.
// Prints one JSON line per check; exits non-zero on the first surprise.
// The server's CA comes from NODE_EXTRA_CA_CERTS.

import { Client } from 'fhir-kit-client';

const [base, token] = process.argv.slice(2);
const client = new Client({ baseUrl: base, bearerToken: token });

function report(name, ok, detail) {
  console.log(JSON.stringify({ check: name, ok, detail }));
  if (!ok) process.exit(1);
}

async function refused(name, fn, status, expression) {
  try {
    await fn();
    report(name, false, 'accepted');
  } catch (e) {
    const r = e.response || {};
    const data = typeof r.data === 'string' ? JSON.parse(r.data) : r.data;
    const issue = data && data.issue && data.issue[0];
    const expr = issue && issue.expression ? issue.expression[0] : '';
    report(name, r.status === status && data.resourceType === 'OperationOutcome' && expr === expression,
      { status: r.status, expression: expr });
  }
}

function heartRate(ref, value, id) {
  return {
    resourceType: 'Observation', status: 'final',
    identifier: [{ system: 'urn:example:fhir-kit', value: id }],
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: ref }, performer: [{ reference: ref }],
    effectiveDateTime: new Date(Date.now() - 3600e3).toISOString().replace(/\.\d+Z$/, 'Z'),
    valueQuantity: { value, unit: 'beats/min', system: 'http://unitsofmeasure.org', code: '/min' },
  };
}

(async () => {
  const cap = await client.capabilityStatement();
  report('metadata', cap.resourceType === 'CapabilityStatement' && cap.fhirVersion === '4.0.1', cap.fhirVersion);
  const patients = await client.search({ resourceType: 'Patient' });
  report('patient search', patients.type === 'searchset' && patients.entry.length === 1, patients.total);
  const id = patients.entry[0].resource.id;
  const me = `Patient/${id}`;
  const p = await client.read({ resourceType: 'Patient', id });
  report('patient read', p.id === id, id);
  const audit = await client.search({ resourceType: 'AuditEvent', searchParams: { patient: id } });
  report('audit search', audit.resourceType === 'Bundle', audit.total);
  const created = await client.create({ resourceType: 'Observation', body: heartRate(me, 70, 'fk-1') });
  report('create', created.resourceType === 'Observation' && created.subject.reference === me, created.id);
  const again = await client.create({ resourceType: 'Observation', body: heartRate(me, 70, 'fk-1') });
  report('create again is the same reading', again.id === created.id, again.id);
  await refused('implausible value', () => client.create({ resourceType: 'Observation', body: heartRate(me, 999, 'fk-2') }), 422, 'Observation.valueQuantity.value');
  await refused('another patient', () => client.create({ resourceType: 'Observation', body: heartRate('Patient/pnotme', 70, 'fk-3') }), 403, 'Observation.subject');
  const tx = await client.transaction({ body: { resourceType: 'Bundle', type: 'transaction', entry: [
    { resource: heartRate(me, 61, 'fk-4'), request: { method: 'POST', url: 'Observation' } },
    { resource: heartRate(me, 62, 'fk-5'), request: { method: 'POST', url: 'Observation' } },
  ] } });
  report('transaction', tx.type === 'transaction-response' && tx.entry.length === 2, tx.entry.map((e) => e.response.status));
})().catch((e) => { report('unexpected', false, String(e) + ' ' + JSON.stringify(e.response || {})); });
