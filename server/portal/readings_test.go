package portal_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"kmcr/server/devidp"
)

func (b *browser) upload(path, csrf, name string, data []byte) (int, string) {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", csrf)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", b.r.srv.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	st, s, _ := b.do(req)
	return st, s
}

func (r *rig) added(nhs string) int {
	rs, err := r.svc.PatientResourcesOf(nhs, "Observation")
	if err != nil {
		r.t.Fatal(err)
	}
	n := 0
	for _, x := range rs {
		if strings.HasPrefix(x.Key, "Observation/kmcr-pe-") {
			n++
		}
	}
	return n
}

// TestPortal_Readings_FormAndUploads checks the form stores a reading and
// a blood pressure that reach the record marked patient-entered, a bad
// value is refused naming the problem with nothing stored, and uploads of
// Apple Health's export.xml and of a FHIR Bundle are taken whole or not at
// all, a second upload of the same file adding nothing.
func TestPortal_Readings_FormAndUploads(t *testing.T) {
	r := newRig(t)
	nhs := r.nhs[0]
	b := r.browser()
	b.signIn(nhs, devidp.DemoPassword, devidp.LevelP9)
	st, page := b.get("/my/readings")
	if st != http.StatusOK || !strings.Contains(page, "Add one reading") {
		t.Fatalf("readings page: %d", st)
	}
	csrf := hidden(page).Get("csrf")
	when := r.clk.Now().Add(-time.Hour).In(time.UTC).Format("2006-01-02T15:04")
	// The page's times are UK times; in winter that is UTC.
	if st, _ := b.post("/my/readings", url.Values{"kind": {"heart-rate"}, "value": {"71"}, "when": {when}}); st != http.StatusForbidden {
		t.Fatalf("no CSRF: %d", st)
	}
	st, page = b.post("/my/readings", url.Values{"csrf": {csrf}, "kind": {"heart-rate"}, "value": {"2000"}, "when": {when}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(page, "not a plausible heart rate") {
		t.Fatalf("implausible: %d\n%s", st, page)
	}
	if n := r.added(nhs); n != 0 {
		t.Fatalf("refused forms stored %d", n)
	}
	st, page = b.post("/my/readings", url.Values{"csrf": {csrf}, "kind": {"heart-rate"}, "value": {"71"}, "when": {when}})
	if st != http.StatusOK || !strings.Contains(page, "1 reading(s) saved") || !strings.Contains(page, "Heart rate 71 beats per minute") {
		t.Fatalf("saved: %d\n%s", st, page)
	}
	st, page = b.post("/my/readings", url.Values{"csrf": {csrf}, "kind": {"blood-pressure"}, "systolic": {"131"}, "diastolic": {"84"}, "when": {when}})
	if st != http.StatusOK || !strings.Contains(page, "Blood pressure 131/84 mmHg") {
		t.Fatalf("blood pressure: %d", st)
	}
	// The record shows them as the patient's own.
	_, rec := b.get("/my/record")
	if !strings.Contains(rec, "Added by you") {
		t.Errorf("the record does not mark the readings as the patient's")
	}
	export, err := os.ReadFile("../readings/testdata/export.xml")
	if err != nil {
		t.Fatal(err)
	}
	st, page = b.upload("/my/readings/upload", csrf, "export.xml", export)
	if st != http.StatusOK || !strings.Contains(page, "6 reading(s) saved") {
		t.Fatalf("Apple Health upload: %d\n%s", st, page)
	}
	st, page = b.upload("/my/readings/upload", csrf, "export.xml", export)
	if st != http.StatusOK || !strings.Contains(page, "0 reading(s) saved; 6 you had already added") {
		t.Fatalf("second upload: %d\n%s", st, page)
	}
	if n := r.added(nhs); n != 8 {
		t.Fatalf("%d readings stored; want 8", n)
	}
	ref, _ := r.svc.PatientReference(nhs)
	obs := func(v string) string {
		return `{"resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"` + ref +
			`"},"performer":[{"reference":"` + ref + `"}],"effectiveDateTime":"` + r.clk.Now().Add(-2*time.Hour).UTC().Format(time.RFC3339) +
			`","valueQuantity":{"value":` + v + `,"system":"http://unitsofmeasure.org","code":"/min"}}}`
	}
	bundle := `{"resourceType":"Bundle","type":"collection","entry":[` + obs("66") + `,` + obs("900") + `]}`
	st, page = b.upload("/my/readings/upload", csrf, "bundle.json", []byte(bundle))
	if st != http.StatusUnprocessableEntity || !strings.Contains(page, "reading 2 of 2") || !strings.Contains(page, "Nothing from it was saved") {
		t.Fatalf("bad bundle: %d\n%s", st, page)
	}
	if n := r.added(nhs); n != 8 {
		t.Fatalf("a refused file stored readings: %d", n)
	}
	bundle = `{"resourceType":"Bundle","type":"collection","entry":[` + obs("66") + `,` + obs("67") + `]}`
	if st, page = b.upload("/my/readings/upload", csrf, "bundle.json", []byte(bundle)); st != http.StatusOK || !strings.Contains(page, "2 reading(s) saved") {
		t.Fatalf("good bundle: %d\n%s", st, page)
	}
}
