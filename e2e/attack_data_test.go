package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"kmcr/cache"
	"kmcr/demo"
)

// The attack suite for sensitive data and the feed (docs/security.md,
// "Sensitive data and the feed"): each test tries one attack with the real
// kmcr-server and kmcr, and asserts it fails by reading what reached the
// laptop from the laptop's own cache (decrypted with the cache package),
// never from the server's word. Each plants a marker next to the attack
// and an unlabelled control item beside it, so a test that would pass on
// an empty cache fails.

// attackSeed numbers the patients of the attack tests.
const attackSeed = 8

// attackEnv is a server holding a few plain patients, a paramedic whose
// caseload they are, and that paramedic's enrolled laptop.
type attackEnv struct {
	t   *testing.T
	d   *serverData
	srv *serverProc
	p   *profile
	nhs []string
}

// attackPatient is a plain FHIR Patient "p<i>" with NHS number nhs.
func attackPatient(i int, nhs, given string) string {
	return fmt.Sprintf(`{"resourceType":"Patient","id":"p%d","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":%q}],"name":[{"family":%q,"given":[%q]}],"gender":"female","birthDate":"1970-01-0%d"}`, i, nhs, attackFamily(i), given, i%9+1)
}

// attackFamily is patient i's family name: letters only, so that search
// reads it as a name.
func attackFamily(i int) string {
	return "Attack" + string(rune('a'+i/26)) + string(rune('a'+i%26))
}

// newAttackEnv imports n plain patients (plus extra NDJSON lines, written
// before the first sync), and enrols the paramedic, whose first sync
// brings them.
func newAttackEnv(t *testing.T, n int, extra map[string]string) *attackEnv {
	t.Helper()
	e := &attackEnv{t: t, d: newServerData(t, 0, attackSeed)}
	var lines []string
	for i := 0; i < n; i++ {
		e.nhs = append(e.nhs, demo.NHSNumber(attackSeed, i).Digits())
		lines = append(lines, attackPatient(i, e.nhs[i], fmt.Sprintf("Given%d", i)))
	}
	files := map[string]string{"Patient.000.ndjson": strings.Join(lines, "\n") + "\n"}
	for k, v := range extra {
		files[k] = v
	}
	e.importFiles(files)
	e.d.addUser("para", "paramedic", e.nhs...)
	e.srv = e.d.serve("127.0.0.1:0")
	e.p = newProfile(t)
	e.p.enrol(e.srv.url(), e.d.ca, "para")
	e.p.mustKmcr("sync", "--once")
	return e
}

// importFiles writes files into a fresh folder and imports it with the
// real command (through the running server's admin socket once it runs).
func (e *attackEnv) importFiles(files map[string]string) result {
	e.t.Helper()
	dir := e.t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			e.t.Fatal(err)
		}
	}
	return e.d.mustAdmin("import", dir)
}

// attackAndSync imports the attack and syncs the laptop once.
func (e *attackEnv) attackAndSync(files map[string]string) result {
	e.t.Helper()
	r := e.importFiles(files)
	e.p.mustKmcr("sync", "--once")
	return r
}

// laptopDocs reads every document on the laptop from its cache, by NHS
// number: what a thief with the passphrase would get.
func laptopDocs(t *testing.T, p *profile) map[string]string {
	t.Helper()
	cc, err := cache.Open(cache.Options{Dir: p.dir, Secrets: cache.NewFileSecretStore(p.secret)}, []byte(p.pass))
	if err != nil {
		t.Fatalf("opening the laptop's cache: %v", err)
	}
	defer cc.Close()
	out := map[string]string{}
	err = cc.View(func(tx *cache.Tx) error {
		ps, err := tx.Patients()
		if err != nil {
			return err
		}
		for _, n := range ps {
			rec, err := tx.Get(n)
			if err != nil {
				return err
			}
			out[n.Digits()] = string(rec.Data)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading the laptop's cache: %v", err)
	}
	return out
}

// requireMarkers checks that no cached document holds a marker of gone and
// the patient's cached document holds every marker of kept.
func requireMarkers(t *testing.T, p *profile, nhs string, gone, kept []string) {
	t.Helper()
	docs := laptopDocs(t, p)
	doc, ok := docs[nhs]
	if !ok {
		t.Fatalf("patient %s is not on the laptop at all", nhs)
	}
	for n, d := range docs {
		for _, m := range gone {
			if strings.Contains(d, m) {
				t.Errorf("%s reached the laptop in the document of %s", m, n)
			}
		}
	}
	for _, m := range kept {
		if !strings.Contains(doc, m) {
			t.Errorf("control item %s is missing from the laptop: the test would pass on an empty cache", m)
		}
	}
}

// labelledCondition is a Condition of patient p<i> with marker text and
// the given meta.security codings (JSON array elements).
func labelledCondition(i int, marker string, labels ...string) string {
	meta := ""
	if len(labels) > 0 {
		meta = `"meta":{"security":[` + strings.Join(labels, ",") + `]},`
	}
	return fmt.Sprintf(`{"resourceType":"Condition","id":%q,%s"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"code":{"text":%q},"subject":{"reference":"Patient/p%d"}}`, strings.ToLower(marker), meta, marker, i)
}

func coding(system, code string) string {
	if system == "" {
		return fmt.Sprintf(`{"code":%q}`, code)
	}
	return fmt.Sprintf(`{"system":%q,"code":%q}`, system, code)
}

// labelAttack imports one labelled Condition per label (and a plain one)
// for the first patient, syncs, and checks none of the labelled reached
// the laptop while the plain one did.
func labelAttack(t *testing.T, labels map[string]string) {
	e := newAttackEnv(t, 2, nil)
	var lines, gone []string
	for marker, label := range labels {
		lines = append(lines, labelledCondition(0, marker, label))
		gone = append(gone, marker)
	}
	lines = append(lines, labelledCondition(0, "MARK-PLAIN-CONTROL"))
	e.attackAndSync(map[string]string{"Condition.attack.ndjson": strings.Join(lines, "\n") + "\n"})
	requireMarkers(t, e.p, e.nhs[0], gone, []string{"MARK-PLAIN-CONTROL"})
	if v, _ := showJSON(t, e.p, e.nhs[0]); v.Sensitive < len(labels) {
		t.Errorf("the screen counts %d withheld items; %d were withheld", v.Sensitive, len(labels))
	}
}

// TestAttack_OldURIConfidentialityRestricted_NeverCached: restricted and
// very restricted under the older http://hl7.org/fhir/v3/Confidentiality.
func TestAttack_OldURIConfidentialityRestricted_NeverCached(t *testing.T) {
	t.Parallel()
	labelAttack(t, map[string]string{
		"MARK-OLDURI-R":   coding("http://hl7.org/fhir/v3/Confidentiality", "R"),
		"MARK-OLDURI-V":   coding("http://hl7.org/fhir/v3/Confidentiality", "V"),
		"MARK-OLDURI-PSY": coding("http://hl7.org/fhir/v3/ActCode", "PSY"),
	})
}

// TestAttack_OIDLabels_NeverCached: the OID forms of both code systems.
func TestAttack_OIDLabels_NeverCached(t *testing.T) {
	t.Parallel()
	labelAttack(t, map[string]string{
		"MARK-OID-CONF-R":  coding("urn:oid:2.16.840.1.113883.5.25", "R"),
		"MARK-OID-ACT-HIV": coding("urn:oid:2.16.840.1.113883.5.4", "HIV"),
		"MARK-BARE-OID-V":  coding("2.16.840.1.113883.5.25", "V"),
	})
}

// TestAttack_SensitivityValueSet_NeverCached: codes of the whole
// InformationSensitivityPolicy value set beyond a hand-picked few.
func TestAttack_SensitivityValueSet_NeverCached(t *testing.T) {
	t.Parallel()
	act := "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	labels := map[string]string{}
	for _, c := range []string{"ETHUD", "OPIOIDUD", "TBOO", "SUD", "BH", "PSYTHPN", "GDIS", "MST", "SPI", "ADOL", "COCAINEUD", "NOPERSISTP"} {
		labels["MARK-VS-"+c] = coding(act, c)
	}
	labelAttack(t, labels)
}

// TestAttack_LabelSpellings_NeverCached: case, spaces, invisible
// characters, a version, a trailing slash, and no system at all.
func TestAttack_LabelSpellings_NeverCached(t *testing.T) {
	t.Parallel()
	labelAttack(t, map[string]string{
		"MARK-SP-LOWER":    coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "ethud"),
		"MARK-SP-SPACES":   coding(" http://terminology.hl7.org/CodeSystem/v3-Confidentiality ", " r "),
		"MARK-SP-ZW":       coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "HIV\u200b"),
		"MARK-SP-VERSION":  coding("http://terminology.hl7.org/CodeSystem/v3-Confidentiality|2.0.0", "R"),
		"MARK-SP-SLASH":    coding("https://terminology.hl7.org/CodeSystem/v3-ActCode/", "SEX"),
		"MARK-SP-NOSYSTEM": coding("", "TBOO"),
	})
}

// TestAttack_ContainedSensitive_Withheld: a labelled resource hidden in
// another's contained array, referred to or only carried.
func TestAttack_ContainedSensitive_Withheld(t *testing.T) {
	t.Parallel()
	e := newAttackEnv(t, 2, nil)
	e.attackAndSync(map[string]string{"MedicationRequest.attack.ndjson": `{"resourceType":"MedicationRequest","id":"mark-contained-ref","status":"active","intent":"order","contained":[{"resourceType":"Medication","id":"m","meta":{"security":[` + coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "HIV") + `]},"code":{"text":"MARK-CONTAINED-DRUG"}}],"medicationReference":{"reference":"#m"},"subject":{"reference":"Patient/p0"}}` + "\n" +
		`{"resourceType":"MedicationRequest","id":"mark-contained-carried","status":"active","intent":"order","contained":[{"resourceType":"Condition","id":"c","meta":{"security":[` + coding("http://hl7.org/fhir/v3/Confidentiality", "R") + `]},"code":{"text":"MARK-CONTAINED-CONDITION"}}],"medicationCodeableConcept":{"text":"MARK-CONTAINED-CARRIER"},"subject":{"reference":"Patient/p0"}}` + "\n" +
		`{"resourceType":"MedicationRequest","id":"mark-plain-medicine","status":"active","intent":"order","medicationCodeableConcept":{"text":"MARK-PLAIN-MEDICINE"},"subject":{"reference":"Patient/p0"}}` + "\n"})
	requireMarkers(t, e.p, e.nhs[0], []string{"MARK-CONTAINED-DRUG", "MARK-CONTAINED-CONDITION", "MARK-CONTAINED-CARRIER", "mark-contained-ref"}, []string{"MARK-PLAIN-MEDICINE"})
}

// TestAttack_BundleLevelLabel_Withheld: the label on the Bundle, not on
// its entries.
func TestAttack_BundleLevelLabel_Withheld(t *testing.T) {
	t.Parallel()
	e := newAttackEnv(t, 2, nil)
	e.attackAndSync(map[string]string{
		"labelled.json": `{"resourceType":"Bundle","type":"collection","meta":{"security":[` + coding("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R") + `]},"entry":[{"fullUrl":"urn:uuid:0b6c1f0e-1","resource":` + labelledCondition(0, "MARK-BUNDLE-LABELLED") + `}]}`,
		"plain.json":    `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:0b6c1f0e-2","resource":` + labelledCondition(0, "MARK-BUNDLE-PLAIN") + `}]}`,
	})
	requireMarkers(t, e.p, e.nhs[0], []string{"MARK-BUNDLE-LABELLED"}, []string{"MARK-BUNDLE-PLAIN"})
}

// TestAttack_ReferrerOfSensitive_Withheld: an unlabelled medicine whose
// reason is a labelled condition, or whose Medication is labelled, tells
// what they are.
func TestAttack_ReferrerOfSensitive_Withheld(t *testing.T) {
	t.Parallel()
	e := newAttackEnv(t, 2, nil)
	e.attackAndSync(map[string]string{
		"Condition.attack.ndjson":  labelledCondition(0, "MARK-REF-PSYCHOSIS", coding("http://hl7.org/fhir/v3/ActCode", "PSY")) + "\n",
		"Medication.attack.ndjson": `{"resourceType":"Medication","id":"mark-ref-prep","meta":{"security":[` + coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "HIV") + `]},"code":{"text":"MARK-REF-PREP"}}` + "\n",
		"MedicationRequest.attack.ndjson": `{"resourceType":"MedicationRequest","id":"mark-ref-reason","status":"active","intent":"order","medicationCodeableConcept":{"text":"MARK-REF-OLANZAPINE"},"reasonReference":[{"reference":"Condition/mark-ref-psychosis"}],"subject":{"reference":"Patient/p0"}}` + "\n" +
			`{"resourceType":"MedicationRequest","id":"mark-ref-shared","status":"active","intent":"order","medicationReference":{"reference":"Medication/mark-ref-prep","display":"MARK-REF-DISPLAY"},"subject":{"reference":"Patient/p0"}}` + "\n" +
			`{"resourceType":"MedicationRequest","id":"mark-ref-plain","status":"active","intent":"order","medicationCodeableConcept":{"text":"MARK-REF-SALBUTAMOL"},"subject":{"reference":"Patient/p0"}}` + "\n",
	})
	requireMarkers(t, e.p, e.nhs[0], []string{"MARK-REF-PSYCHOSIS", "MARK-REF-PREP", "MARK-REF-OLANZAPINE", "MARK-REF-DISPLAY"}, []string{"MARK-REF-SALBUTAMOL"})
}

// TestAttack_PatientRestrictedLater_Withdrawn: a patient cached on two
// laptops whose Patient is labelled restricted on a later import is purged
// from both at their next sync, the old document (address included) is
// never served again, and neither screen tells the user why.
func TestAttack_PatientRestrictedLater_Withdrawn(t *testing.T) {
	t.Parallel()
	e := newAttackEnv(t, 3, nil)
	e.d.addUser("carer", "community", e.nhs...)
	carer := newProfile(t)
	carer.enrol(e.srv.url(), e.d.ca, "carer")
	carer.mustKmcr("sync", "--once")
	target := e.nhs[1]
	for _, p := range []*profile{e.p, carer} {
		if _, ok := laptopDocs(t, p)[target]; !ok {
			t.Fatalf("the target patient is not on a laptop before the restriction")
		}
	}
	restricted := strings.Replace(attackPatient(1, target, "Given1"), `"id":"p1",`, `"id":"p1","meta":{"security":[`+coding("http://hl7.org/fhir/v3/Confidentiality", "R")+`]},`, 1)
	restricted = strings.Replace(restricted, `"gender"`, `"address":[{"line":["MARK-SECRET-ADDRESS"],"postalCode":"ME14 1XX"}],"gender"`, 1)
	imp := e.importFiles(map[string]string{"Patient.restrict.ndjson": restricted + "\n"})
	if !strings.Contains(imp.stdout, "patients restricted") {
		t.Errorf("the import does not report the restriction:\n%s", imp)
	}
	for name, p := range map[string]*profile{"paramedic": e.p, "carer": carer} {
		p.mustKmcr("sync", "--once")
		docs := laptopDocs(t, p)
		if _, ok := docs[target]; ok {
			t.Errorf("%s: the restricted patient is still on the laptop after a sync", name)
		}
		for _, d := range docs {
			if strings.Contains(d, "MARK-SECRET-ADDRESS") {
				t.Errorf("%s: the restricted patient's new address reached the laptop", name)
			}
		}
		if len(docs) != 2 {
			t.Errorf("%s: %d patients cached; want the 2 others kept", name, len(docs))
		}
		r := p.kmcr(runOpts{}, "show", target)
		if r.code == 0 || strings.Contains(strings.ToLower(r.stdout+r.stderr), "restrict") {
			t.Errorf("%s: show of the restricted patient succeeds or tells the restriction:\n%s", name, r)
		}
		if r := p.kmcr(runOpts{}, "search", attackFamily(1)); r.code == 0 {
			t.Errorf("%s: search still finds the restricted patient:\n%s", name, r)
		}
	}
	// A laptop enrolled afterwards never receives the patient either.
	late := newProfile(t)
	e.d.addUser("late", "paramedic", e.nhs...)
	late.enrol(e.srv.url(), e.d.ca, "late")
	late.mustKmcr("sync", "--once")
	if _, ok := laptopDocs(t, late)[target]; ok {
		t.Error("a laptop enrolled after the restriction received the patient")
	}
}

// TestAttack_LongGivenName_FirstSyncCompletes: one patient with a
// 2,000-character given name in the caseload does not stop anyone's
// first sync, and is itself stored and searchable.
func TestAttack_LongGivenName_FirstSyncCompletes(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("Bartholomew", 182)[:2000]
	nhs := demo.NHSNumber(attackSeed, 50).Digits()
	e := newAttackEnv(t, 5, map[string]string{"Patient.long.ndjson": attackPatient(50, nhs, long) + "\n"})
	e.d.mustAdmin("caseload", "add", "--user", "para", "--nhs", nhs)
	fresh := newProfile(t)
	e.d.addUser("fresh", "paramedic", append([]string{nhs}, e.nhs...)...)
	fresh.enrol(e.srv.url(), e.d.ca, "fresh")
	fresh.mustKmcr("sync", "--once")
	st := fresh.status()
	if !st.FirstSyncComplete || st.CachedPatients != 6 || st.Damaged != 0 {
		t.Fatalf("first sync with a 2,000-character given name: %+v; want complete, 6 cached, none damaged", st)
	}
	if docs := laptopDocs(t, fresh); !strings.Contains(docs[nhs], long) {
		t.Fatal("the document does not keep the whole given name")
	}
	if r := fresh.mustKmcr("search", attackFamily(50)); !strings.Contains(r.stdout, nhs[:3]+" "+nhs[3:6]) {
		t.Fatalf("search does not find the long-named patient:\n%s", r)
	}
	fresh.mustKmcr("show", nhs)
}

// TestAttack_UnusualRecords_FirstSyncCompletes: huge addresses, thousands
// of identifiers, deeply nested extensions, control characters and
// right-to-left text: each is stored and searchable, or refused at import
// with a reason, and the first sync completes for everyone else.
func TestAttack_UnusualRecords_FirstSyncCompletes(t *testing.T) {
	t.Parallel()
	n := func(i int) string { return demo.NHSNumber(attackSeed, 60+i).Digits() }
	ids := make([]string, 3000)
	for i := range ids {
		ids[i] = fmt.Sprintf(`{"system":"urn:example:local","value":"L%05d"}`, i)
	}
	nested := `{"url":"urn:x","valueString":"deep"}`
	for i := 0; i < 200; i++ {
		nested = `{"url":"urn:x","extension":[` + nested + `]}`
	}
	shallow := `{"url":"urn:x","valueString":"ok"}`
	for i := 0; i < 20; i++ {
		shallow = `{"url":"urn:x","extension":[` + shallow + `]}`
	}
	patient := func(i int, family, extra string) string {
		fam, _ := json.Marshal(family)
		return fmt.Sprintf(`{"resourceType":"Patient","id":"u%d",%s"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":%q}],"name":[{"family":%s,"given":["Una"]}],"birthDate":"1980-02-30"}`, i, extra, n(i), fam)
	}
	lines := []string{
		patient(0, "Hugeaddress", `"address":[{"line":["`+strings.Repeat("Flat 1, ", 20000)+`"],"postalCode":"`+strings.Repeat("ME14 1XX ", 300)+`"}],`),
		patient(1, "Manyids", ""),
		patient(2, "Deepnest", `"extension":[`+nested+`],`),
		patient(3, "Shallownest", `"extension":[`+shallow+`],`),
		patient(4, "Ctrl\u0007\u001b[2Jchars", ""),
		patient(5, "\u202eعبدالله", ""),
	}
	lines[1] = strings.Replace(lines[1], `"identifier":[`, `"identifier":[`+strings.Join(ids, ",")+`,`, 1)
	e := newAttackEnv(t, 3, nil)
	imp := e.importFiles(map[string]string{"Patient.unusual.ndjson": strings.Join(lines, "\n") + "\n"})
	if !strings.Contains(imp.stdout, "nested deeper than") {
		t.Errorf("the deeply nested record is not refused at import with its reason:\n%s", imp)
	}
	all := append([]string{}, e.nhs...)
	for i := 0; i < 6; i++ {
		all = append(all, n(i))
	}
	e.d.addUser("fresh", "paramedic", all...)
	fresh := newProfile(t)
	fresh.enrol(e.srv.url(), e.d.ca, "fresh")
	fresh.mustKmcr("sync", "--once")
	st := fresh.status()
	if !st.FirstSyncComplete || st.CachedPatients != 8 || st.Damaged != 0 {
		t.Fatalf("first sync with unusual records: %+v; want complete, 8 cached (all but the refused one), none damaged", st)
	}
	for _, q := range []string{"Hugeaddress", "Manyids", "Shallownest", "Ctrl", "عبدالله"} {
		if r := fresh.kmcr(runOpts{}, "search", q); r.code != 0 || strings.ContainsAny(r.stdout, "\u0007\u001b") {
			t.Errorf("search %q: the record is not found, or its control characters print raw:\n%s", q, r)
		}
	}
	for i, want := range map[int]string{0: "HUGEADDRESS", 1: "MANYIDS", 3: "SHALLOWNEST", 4: "CTRL", 5: "عبدالله"} {
		r := fresh.kmcr(runOpts{}, "show", n(i))
		if r.code != 0 || !strings.Contains(r.stdout, want) || strings.ContainsAny(r.stdout, "\u0007\u001b\u202e") {
			t.Errorf("show %s: not shown, or control characters print raw:\n%s", want, r)
		}
	}
}

// TestAttack_ImportSymlinkEscape_Refused: a link in the import folder to
// a file outside it (a patient record elsewhere, or any secret) is not
// followed, and nothing of the file reaches the report.
func TestAttack_ImportSymlinkEscape_Refused(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 0, attackSeed)
	outside := t.TempDir()
	secretNHS := demo.NHSNumber(attackSeed, 90).Digits()
	secret := filepath.Join(outside, "elsewhere.ndjson")
	if err := os.WriteFile(secret, []byte(attackPatient(90, secretNHS, "MARK-OUTSIDE-SECRET")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Patient.000.ndjson"), []byte(attackPatient(0, demo.NHSNumber(attackSeed, 0).Digits(), "Inside")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"link.ndjson": secret, "relative.json": filepath.Join("..", filepath.Base(outside), "elsewhere.ndjson"), "passwd.json": "/etc/passwd", "folder.ndjson": outside} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	r := d.mustAdmin("import", dir)
	if !strings.Contains(r.stdout, "patients rebuilt: 1") || strings.Count(r.stdout, "symbolic link leading outside") != 4 {
		t.Fatalf("import through links out of the folder: want 1 patient and 4 refused links:\n%s", r)
	}
	if strings.Contains(r.stdout+r.stderr, "MARK-OUTSIDE") || strings.Contains(r.stdout+r.stderr, "root:") {
		t.Fatalf("the import report repeats a file's contents:\n%s", r)
	}
	if r := d.admin(runOpts{}, "access-log", "--nhs", secretNHS); strings.Contains(r.stdout, "MARK-OUTSIDE") {
		t.Fatal("the outside file was read")
	}
}

// TestAttack_ImportFIFOAndDevice_Refused: a FIFO (which would block the
// import forever) and a link to an endless device are refused, and the
// import finishes.
func TestAttack_ImportFIFOAndDevice_Refused(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 0, attackSeed)
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "Condition.fifo.ndjson"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "Observation.zero.ndjson")); err != nil {
		t.Fatal(err)
	}
	r := d.mustAdmin("import", dir)
	if !strings.Contains(r.stdout, "not a regular file") || !strings.Contains(r.stdout, "Observation.zero.ndjson") {
		t.Fatalf("a FIFO and a device link: want both refused:\n%s", r)
	}
	fifo := filepath.Join(t.TempDir(), "feed.ndjson")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := d.mustAdmin("import", fifo); !strings.Contains(r.stdout, "not a regular file") {
		t.Fatalf("a FIFO named explicitly: want it refused:\n%s", r)
	}
}

// TestAttack_ImportErrorsEchoNoContent: files that are not FHIR (a copied
// shadow file, a reference holding a secret, an NHS number field holding
// one, terminal escapes in a file name) are rejected without the report
// repeating what they hold or printing raw control characters.
func TestAttack_ImportErrorsEchoNoContent(t *testing.T) {
	t.Parallel()
	d := newServerData(t, 0, attackSeed)
	dir := t.TempDir()
	files := map[string]string{
		"shadow.json":        "root:MARK-ECHO-SHADOW:19000:0:99999:7:::\n",
		"Condition.ndjson":   `{"resourceType":"Condition","id":"c","subject":{"reference":"Group/MARK-ECHO-REF"}}` + "\n",
		"Patient.000.ndjson": `{"resourceType":"Patient","id":"p","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"MARK-ECHO-NHS"}]}` + "\n" + "MARK-ECHO-LINE\n",
		"esc\x1b[2J.json":    "{",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := d.mustAdmin("import", dir)
	if strings.Contains(r.stdout+r.stderr, "MARK-ECHO") || strings.Contains(r.stdout+r.stderr, "\x1b") {
		t.Fatalf("the import report repeats file contents or prints a raw escape:\n%q", r.stdout+r.stderr)
	}
	if !strings.Contains(r.stdout, "rejected: ") {
		t.Fatalf("nothing rejected:\n%s", r)
	}
}
