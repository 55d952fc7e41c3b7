package portal

import (
	"errors"
	"html/template"
	"net/http"
	"time"

	"kmcr/present"
	"kmcr/record"
	"kmcr/server/policy"
	"kmcr/server/store"
)

// ukTime is the zone the portal shows times in.
var ukTime = func() *time.Location {
	if l, err := time.LoadLocation("Europe/London"); err == nil {
		return l
	}
	return time.UTC
}()

var funcs = template.FuncMap{
	// tag maps a presentation level to the NHS.UK tag colour that says it;
	// the words beside it carry the meaning on their own.
	"tag": func(l present.Level) string {
		switch l {
		case present.Danger:
			return "nhsuk-tag--red"
		case present.Caution:
			return "nhsuk-tag--orange"
		case present.Good:
			return "nhsuk-tag--green"
		case present.Patient:
			return "nhsuk-tag--purple"
		}
		return "nhsuk-tag--grey"
	},
	"callout": func(l present.Level) string {
		switch l {
		case present.Danger:
			return "nhsuk-card--care nhsuk-card--care--emergency"
		case present.Caution:
			return "nhsuk-card--care nhsuk-card--care--urgent"
		}
		return "nhsuk-card--care nhsuk-card--care--non-urgent"
	},
	"isPatient": func(l present.Level) bool { return l == present.Patient },
	"nhsSpaced": func(d string) string { return record.NHSNumber(d).String() },
}

// homeData is the home page's data: the patient's notifications.
type homeData struct {
	Notices []Notice
	Email   string // where they are emailed; empty: listed here only
}

// Notice is one notification on the home page.
type Notice struct {
	BreakGlass bool
	Text       string
	When       string
	Emailed    bool
}

// maxNotices bounds the home page's list; "who viewed" has every access.
const maxNotices = 10

func (p *Portal) home(w http.ResponseWriter, r *http.Request, s *Session) (any, int, bool) {
	if !s.Proofed() {
		return homeData{}, http.StatusOK, false
	}
	ns, err := p.st.PatientNotifications(s.NHS)
	if err == nil {
		var email string
		if email, err = p.st.Contact(s.NHS); err == nil {
			return homeData{Notices: p.notices(ns), Email: email}, http.StatusOK, false
		}
	}
	p.cfg.Logf("portal: reading the notifications: %v", err)
	p.render(w, r, http.StatusServiceUnavailable, "unavailable", s, nil)
	return nil, 0, true
}

func (p *Portal) notices(ns []store.Notification) []Notice {
	var out []Notice
	names := map[string]string{}
	for _, n := range ns[:min(len(ns), maxNotices)] {
		org, ok := names[n.Org]
		if !ok {
			org = "an organisation not recorded"
			if o, err := p.st.Org(n.Org); err == nil {
				org = o.Name
			}
			names[n.Org] = org
		}
		nt := Notice{When: ukWhen(n.At), Emailed: n.To != ""}
		if n.Kind == store.NotifyBreakGlass {
			nt.BreakGlass = true
			nt.Text = n.Who + " of " + org + " used emergency access (break-glass) to open your record"
		} else {
			nt.Text = "Staff at " + org + " looked at your record for the first time"
		}
		out = append(out, nt)
	}
	return out
}

// recordView is the "my record" page's data.
type recordView struct {
	View     *present.View
	Missing  bool // no record under this NHS number
	Withheld int  // items with a sensitive label, not shown online
}

func (p *Portal) recordPage(w http.ResponseWriter, r *http.Request, s *Session) (any, int, bool) {
	if !s.Proofed() {
		p.render(w, r, http.StatusForbidden, "proofing", s, nil)
		return nil, 0, true
	}
	v, meta, err := p.present(s.NHS)
	if errors.Is(err, store.ErrNotFound) {
		return recordView{Missing: true}, http.StatusOK, false
	}
	if err != nil {
		p.cfg.Logf("portal: reading the record: %v", err)
		p.render(w, r, http.StatusServiceUnavailable, "unavailable", s, nil)
		return nil, 0, true
	}
	return recordView{View: v, Withheld: meta.Sensitive}, http.StatusOK, false
}

// present builds the clinical presentation of the patient's own record
// from the server's full document (everything but items with a sensitive
// label), as a clinician's screen shows it.
func (p *Portal) present(nhs string) (*present.View, store.PatientMeta, error) {
	meta, err := p.st.Patient(nhs)
	if err != nil {
		return nil, meta, err
	}
	doc, err := p.st.Doc(nhs, store.DocFull)
	if err != nil {
		return nil, meta, err
	}
	rec, err := record.ParseBundle(doc)
	if err != nil {
		return nil, meta, err
	}
	sum := record.Summarise(rec, meta.Updated)
	// The patient is shown every section of their own record: none is
	// withheld from them by a role.
	sections := append(append([]string(nil), policy.ClinicalSections...), policy.DemographicSections...)
	facts := present.Facts{AsOf: meta.Updated, Sections: sections, Sensitive: meta.Sensitive}
	return present.Present(record.NHSNumber(nhs), sum, facts, present.Options{Now: p.now(), Location: ukTime}), meta, nil
}
