package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"kmcr/server/readings"
	"kmcr/server/store"
)

// Upload limits: a file's size and the readings one upload may hold.
const (
	MaxUpload         = 8 << 20
	MaxUploadReadings = 5000
)

// readingsData is the "add my readings" page's data.
type readingsData struct {
	Kinds  []readings.Kind
	Error  string
	Field  string
	Saved  int
	Again  int
	Mine   []MyReading
	Now    string
	Values map[string]string
}

// MyReading is one reading the patient added, as the page lists it.
type MyReading struct{ When, What string }

func (p *Portal) readingsView(s *Session, d readingsData) (readingsData, error) {
	d.Kinds = nil
	for _, k := range readings.Kinds {
		if !k.Component {
			d.Kinds = append(d.Kinds, k)
		}
	}
	d.Now = p.now().In(ukTime).Format("2006-01-02T15:04")
	rs, err := p.cfg.Record.PatientResourcesOf(s.NHS, "Observation")
	if err != nil {
		return d, err
	}
	type mine struct {
		at   time.Time
		what string
	}
	var ms []mine
	for _, r := range rs {
		if !strings.HasPrefix(r.Key, "Observation/kmcr-pe-") {
			continue
		}
		var o readings.Observation
		if json.Unmarshal(r.Raw, &o) != nil {
			continue
		}
		at, _ := time.Parse(time.RFC3339, o.EffectiveDateTime)
		ms = append(ms, mine{at, describe(&o)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].at.After(ms[j].at) })
	for i, m := range ms {
		if i == 20 {
			break
		}
		d.Mine = append(d.Mine, MyReading{When: ukWhen(m.at), What: m.what})
	}
	return d, nil
}

func describe(o *readings.Observation) string {
	code := ""
	for _, c := range o.Code.Coding {
		if c.System == readings.SystemLOINC {
			code = c.Code
		}
	}
	if code == readings.BloodPressureLOINC && len(o.Component) == 2 && o.Component[0].ValueQuantity != nil && o.Component[1].ValueQuantity != nil {
		return fmt.Sprintf("Blood pressure %g/%g mmHg", *o.Component[0].ValueQuantity.Value, *o.Component[1].ValueQuantity.Value)
	}
	k, ok := readings.KindByLOINC(code)
	if !ok || o.ValueQuantity == nil || o.ValueQuantity.Value == nil {
		return "A reading"
	}
	return fmt.Sprintf("%s %s %s", k.Name, strconv.FormatFloat(*o.ValueQuantity.Value, 'f', -1, 64), k.UnitText)
}

func (p *Portal) readingsPage(w http.ResponseWriter, r *http.Request, s *Session) (any, int, bool) {
	if !s.Proofed() {
		p.render(w, r, http.StatusForbidden, "proofing", s, nil)
		return nil, 0, true
	}
	saved, _ := strconv.Atoi(r.URL.Query().Get("saved"))
	again, _ := strconv.Atoi(r.URL.Query().Get("again"))
	d, err := p.readingsView(s, readingsData{Saved: saved, Again: again})
	if err != nil {
		p.cfg.Logf("portal: reading the patient's readings: %v", err)
		p.render(w, r, http.StatusServiceUnavailable, "unavailable", s, nil)
		return nil, 0, true
	}
	return d, http.StatusOK, false
}

// formError shows the form again with the problem named.
func (p *Portal) formError(w http.ResponseWriter, r *http.Request, s *Session, field, msg string) {
	d, _ := p.readingsView(s, readingsData{Error: msg, Field: field, Values: map[string]string{
		"kind": r.PostFormValue("kind"), "value": r.PostFormValue("value"), "systolic": r.PostFormValue("systolic"),
		"diastolic": r.PostFormValue("diastolic"), "when": r.PostFormValue("when")}})
	p.render(w, r, http.StatusUnprocessableEntity, "readings", s, d)
}

// saveReading takes the form: one reading, or a blood pressure.
func (p *Portal) saveReading(w http.ResponseWriter, r *http.Request) {
	s, _ := p.session(w, r)
	if !p.checkForm(w, r, s) {
		return
	}
	if !s.Proofed() {
		p.render(w, r, http.StatusForbidden, "proofing", s, nil)
		return
	}
	ref, err := p.cfg.Record.PatientReference(s.NHS)
	if err != nil {
		p.render(w, r, http.StatusServiceUnavailable, "unavailable", s, nil)
		return
	}
	at, err := time.ParseInLocation("2006-01-02T15:04", r.PostFormValue("when"), ukTime)
	if err != nil {
		p.formError(w, r, s, "when", "Enter when you took the reading, as a date and time")
		return
	}
	num := func(name string) (float64, bool) {
		v, err := strconv.ParseFloat(strings.TrimSpace(r.PostFormValue(name)), 64)
		return v, err == nil
	}
	var o *readings.Observation
	if r.PostFormValue("kind") == "blood-pressure" {
		sys, ok1 := num("systolic")
		dia, ok2 := num("diastolic")
		if !ok1 || !ok2 {
			p.formError(w, r, s, "systolic", "Enter both blood pressure numbers, for example 120 and 80")
			return
		}
		o = readings.NewBloodPressure(sys, dia, at, ref)
	} else {
		k, ok := readings.KindByKey(r.PostFormValue("kind"))
		if !ok || k.Component {
			p.formError(w, r, s, "kind", "Choose what you measured")
			return
		}
		v, ok := num("value")
		if !ok {
			p.formError(w, r, s, "value", "Enter the reading as a number")
			return
		}
		o = readings.New(k, v, at, ref)
	}
	if err := readings.Check(o, ref, p.now()); err != nil {
		var fe *readings.FieldError
		errors.As(err, &fe)
		msg := "That reading could not be accepted"
		if fe != nil {
			msg = "That reading could not be accepted: " + fe.Reason
		}
		p.formError(w, r, s, "value", msg)
		return
	}
	n, again, err := p.store(s, ref, []*readings.Observation{o})
	if err != nil {
		p.cfg.Logf("portal: storing a reading: %v", err)
		p.render(w, r, http.StatusServiceUnavailable, "unavailable", s, nil)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/my/readings?saved=%d&again=%d", n, again), http.StatusSeeOther)
}

// store keeps checked readings, all at once, returning how many were new
// and how many were already there.
func (p *Portal) store(s *Session, ref string, obs []*readings.Observation) (int, int, error) {
	rs, err := p.cfg.Record.PatientResourcesOf(s.NHS, "Observation")
	if err != nil {
		return 0, 0, err
	}
	have := map[string]bool{}
	for _, r := range rs {
		have[r.Key] = true
	}
	var add []store.StoredResource
	again := 0
	for _, o := range obs {
		key, raw, err := readings.Stored(o, ref)
		if err != nil {
			return 0, 0, err
		}
		if have[key] {
			again++
			continue
		}
		have[key] = true
		add = append(add, store.StoredResource{Key: key, Raw: raw})
	}
	if len(add) > 0 {
		if _, err := p.cfg.Record.AddPatientResources(s.NHS, add); err != nil {
			return 0, 0, err
		}
	}
	return len(add), again, p.audit.view(s, "readings-added")
}

// uploadReadings takes a file: a FHIR Bundle of Observations, or Apple
// Health's export.xml. Every reading is checked first; one bad reading
// refuses the file, naming it, and nothing is stored.
func (p *Portal) uploadReadings(w http.ResponseWriter, r *http.Request) {
	s, _ := p.session(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, MaxUpload+64<<10)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		http.Error(w, fmt.Sprintf("The file is too large (at most %d MB) or could not be read.", MaxUpload>>20), http.StatusRequestEntityTooLarge)
		return
	}
	if s == nil || r.PostFormValue("csrf") != s.CSRF || s.CSRF == "" {
		p.render(w, r, http.StatusForbidden, "expired", nil, nil)
		return
	}
	if !s.Proofed() {
		p.render(w, r, http.StatusForbidden, "proofing", s, nil)
		return
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		p.formError(w, r, s, "file", "Choose a file to upload")
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxUpload+1))
	if err != nil || len(data) > MaxUpload {
		p.formError(w, r, s, "file", fmt.Sprintf("The file is larger than %d MB", MaxUpload>>20))
		return
	}
	ref, err := p.cfg.Record.PatientReference(s.NHS)
	if err != nil {
		p.render(w, r, http.StatusServiceUnavailable, "unavailable", s, nil)
		return
	}
	var obs []*readings.Observation
	trimmed := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(trimmed, []byte("<")):
		obs, _, err = readings.ParseAppleHealth(bytes.NewReader(data), ref, MaxUploadReadings)
	case bytes.HasPrefix(trimmed, []byte("{")):
		obs, err = parseBundle(data)
	default:
		err = errors.New("the file is neither a FHIR Bundle (JSON) nor an Apple Health export.xml")
	}
	if err == nil && len(obs) == 0 {
		err = errors.New("the file holds no readings the record takes")
	}
	if err == nil {
		for i, o := range obs {
			if cerr := readings.Check(o, ref, p.now()); cerr != nil {
				err = fmt.Errorf("reading %d of %d: %v", i+1, len(obs), cerr)
				break
			}
		}
	}
	if err != nil {
		p.formError(w, r, s, "file", "The file could not be used: "+err.Error()+". Nothing from it was saved.")
		return
	}
	n, again, err := p.store(s, ref, obs)
	if err != nil {
		p.cfg.Logf("portal: storing uploaded readings: %v", err)
		p.render(w, r, http.StatusServiceUnavailable, "unavailable", s, nil)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/my/readings?saved=%d&again=%d", n, again), http.StatusSeeOther)
}

// parseBundle reads a FHIR Bundle of Observations (any type: a wearable's
// collection or a transaction).
func parseBundle(data []byte) ([]*readings.Observation, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &b); err != nil || b.ResourceType != "Bundle" {
		return nil, errors.New("the file is not a FHIR Bundle")
	}
	if len(b.Entry) > MaxUploadReadings {
		return nil, fmt.Errorf("the Bundle holds more than %d readings; upload a shorter period", MaxUploadReadings)
	}
	var out []*readings.Observation
	for i, e := range b.Entry {
		o, err := readings.Parse(e.Resource)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %v", i+1, err)
		}
		out = append(out, o)
	}
	return out, nil
}
