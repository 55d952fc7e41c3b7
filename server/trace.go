package server

import (
	"fmt"
	"strings"
	"time"

	"kmcr/record"
	"kmcr/server/policy"
	"kmcr/server/store"
	"kmcr/sync/protocol"
)

// AlertTrace records a break-glass trace: who searched, for what, and how
// many candidates the answer listed (or why it was refused).
const AlertTrace = "trace"

// TraceBudget bounds the traces one user may make: more than a crew
// needs in a shift of emergencies, far fewer than a walk through the
// record would take.
var TraceBudget = BreakGlassBudget{Hour: 30, Day: 200}

// traceScan bounds how many same-name, same-birthday patients a trace with
// a postcode reads before narrowing them by it.
const traceScan = 200

// Trace refusals, in plain words for the dialog.
const (
	msgTraceBudget  = "trace refused: you have reached the limit of traces for now; enter the NHS number if you have it"
	msgTraceTooMany = "too many patients match: add the postcode"
	msgTraceFailed  = "the trace could not be answered; try again, or enter the NHS number"
)

// trace answers a break-glass trace from the server's own record: the
// patients whose banner family name (folded as the search folds it) and
// whole birth date match, narrowed by postcode (a whole postcode, or only
// its district) when one is given. At most MaxTraceCandidates are listed,
// each with only what the banner shows; more than that is "too many" with
// none listed. Only a role that may break glass may trace, within
// TraceBudget; every trace is recorded as an AlertTrace.
func (s *Service) trace(u store.User, rules policy.Rules, device string, req *protocol.Trace) *protocol.TraceResult {
	res := &protocol.TraceResult{RequestID: req.RequestID}
	now := s.now()
	family := record.FoldName(req.Family)
	postcode := record.NormalisePostcode(req.Postcode)
	searched := fmt.Sprintf("family %q, born %s", CleanReason(req.Family), req.BirthDate)
	if postcode != "" {
		searched += fmt.Sprintf(", postcode %q", postcode)
	}
	note := func(outcome string) {
		s.alert(store.Alert{Kind: AlertTrace, Device: device, User: u.Name, At: now,
			Detail: fmt.Sprintf("break-glass trace by %s (%s): %s: %s", u.Name, u.Role, searched, outcome)})
	}
	if !rules.BreakGlass {
		res.Error = fmt.Sprintf("trace refused: the %s role may not use emergency access", rules.Role)
		note("refused, role may not use emergency access")
		return res
	}
	if ok, _, _ := s.traces.take(TraceBudget, u.Name, now); !ok {
		res.Error = msgTraceBudget
		note("refused, over the trace budget")
		return res
	}
	if family == "" {
		res.Error = "trace refused: give the family name"
		note("refused, no family name")
		return res
	}
	limit := protocol.MaxTraceCandidates + 1
	if postcode != "" {
		limit = traceScan + 1
	}
	metas, err := s.st.TracePatients(family, req.BirthDate, limit)
	if err != nil {
		s.cfg.Logf("trace: %v", err)
		res.Error = msgTraceFailed
		note("failed, the store could not be read")
		return res
	}
	if postcode != "" && len(metas) <= traceScan {
		metas = byPostcode(metas, postcode)
	}
	if len(metas) > protocol.MaxTraceCandidates {
		res.TooMany, res.Error = true, msgTraceTooMany
		note("too many matched, none returned")
		return res
	}
	for _, m := range metas {
		c, err := s.traceCandidate(m.NHS)
		if err != nil {
			s.cfg.Logf("trace: patient %s: %v", m.NHS, err)
			continue
		}
		res.Candidates = append(res.Candidates, c)
	}
	nums := make([]string, 0, len(res.Candidates))
	for _, c := range res.Candidates {
		nums = append(nums, c.NHS)
	}
	note(fmt.Sprintf("%d candidates returned %v", len(res.Candidates), nums))
	return res
}

// byPostcode keeps the patients at a postcode: a whole one matches
// exactly, a district alone ("CT1") every postcode of that district.
func byPostcode(ms []store.PatientMeta, postcode string) []store.PatientMeta {
	district := record.IsOutwardCode(postcode)
	var out []store.PatientMeta
	for _, m := range ms {
		if m.Postcode == postcode || district && strings.HasPrefix(m.Postcode, postcode+" ") {
			out = append(out, m)
		}
	}
	return out
}

// traceCandidate reads what the banner shows of a patient from their
// demographics document: name, birth date, gender, postcode district and
// town. Nothing clinical is in that document.
func (s *Service) traceCandidate(nhs string) (protocol.TraceCandidate, error) {
	doc, err := s.st.Doc(nhs, store.DocDemographics)
	if err != nil {
		return protocol.TraceCandidate{}, err
	}
	d, err := bannerOf(doc)
	if err != nil {
		return protocol.TraceCandidate{}, err
	}
	c := protocol.TraceCandidate{
		NHS: nhs, Family: d.Name.Family, Given: strings.Join(d.Name.Given, " "), Prefix: strings.Join(d.Name.Prefix, " "),
		BirthDate: d.BirthDate.DateOnly(), Gender: d.Gender, Town: d.Address.City,
	}
	if out, _, ok := record.SplitPostcode(d.Address.Postcode); ok {
		c.District = out
	}
	for _, f := range []*string{&c.Family, &c.Given, &c.Prefix, &c.Town} {
		*f = clip(*f, protocol.MaxName)
	}
	if len(c.Gender) > protocol.MaxToken {
		c.Gender = ""
	}
	return c, nil
}

// bannerOf summarises the Patients of a document alone: the banner's
// demographics, merged by the demographics rule.
func bannerOf(doc []byte) (record.Demographics, error) {
	rec, err := record.ParseBundle(doc)
	if err != nil {
		return record.Demographics{}, err
	}
	var patients []record.Resource
	for _, r := range rec.Resources {
		if r.Type == "Patient" {
			patients = append(patients, r)
		}
	}
	sum := record.Summarise(&record.PatientRecord{Key: rec.Key, NHS: rec.NHS, NHSAssigned: rec.NHSAssigned, Resources: patients}, time.Time{})
	return sum.Demographics, nil
}

// traceKeys sets what TracePatients finds a patient by from the banner's
// demographics: the folded family name, a whole birth date, the postcode.
func traceKeys(meta *store.PatientMeta, n record.NHSNumber, patients []record.Resource) {
	if len(patients) == 0 {
		return
	}
	sum := record.Summarise(&record.PatientRecord{Key: patients[0].Key(), NHS: n, Resources: patients}, time.Time{})
	d := sum.Demographics
	meta.FamilyIndex = record.FoldName(d.Name.Family)
	if b := d.BirthDate.DateOnly(); len(b) == len(time.DateOnly) {
		meta.Birth = b
	}
	meta.Postcode = record.NormalisePostcode(d.Address.Postcode)
}

// clip cuts s to at most n bytes at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// seedTraces reads a user's traces since a time from the stored alerts,
// so a restart does not refill the trace budget.
func (s *Service) seedTraces(user string, since time.Time) []time.Time {
	var out []time.Time
	err := s.st.Alerts(func(a store.Alert) error {
		if a.Kind == AlertTrace && a.User == user && !a.At.Before(since) && !strings.Contains(a.Detail, ": refused, ") {
			out = append(out, a.At)
		}
		return nil
	})
	if err != nil {
		s.cfg.Logf("reading past traces: %v", err)
	}
	return out
}
