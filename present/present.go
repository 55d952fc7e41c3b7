package present

import (
	"fmt"
	"strings"
	"time"

	"kmcr/record"
)

// Relationship is why this device holds the patient.
type Relationship string

// Relationships, as the server names them.
const (
	RelCaseload   Relationship = "caseload"
	RelBreakGlass Relationship = "break-glass"
	// RelIncident: a dispatch system named the user as crew on an
	// incident at the patient's address; held until the incident ends.
	RelIncident Relationship = "incident"
)

// WithheldReason is why something was not sent to this device.
type WithheldReason string

// Withheld reasons, as the server names them.
const (
	WithheldObjection WithheldReason = "objection" // the patient objected to this purpose
	WithheldSensitive WithheldReason = "sensitive" // items with a sensitive label are never held offline
	WithheldRole      WithheldReason = "role"      // the role does not see these sections
	WithheldTooLarge  WithheldReason = "too-large" // the record was too large to hold offline
)

// Withheld is something not sent to this device, and why.
type Withheld struct {
	Reason   WithheldReason `json:"reason"`
	Purpose  string         `json:"purpose,omitempty"`
	Sections []string       `json:"sections,omitempty"`
	Count    int            `json:"count,omitempty"` // items withheld, where known
}

// Facts is what the device knows about its copy of a summary, beside the
// summary itself: when it was current, how long it may be held, why it is
// held, and what was kept from it.
type Facts struct {
	// AsOf is when the server last confirmed the summary current.
	AsOf  time.Time `json:"as_of"`
	Stale bool      `json:"stale"` // AsOf is older than Freshness
	// Freshness is the freshness limit of the server's policy.
	Freshness    time.Duration `json:"-"`
	NotAfter     time.Time     `json:"not_after"` // the end of the offline lease
	Relationship Relationship  `json:"relationship"`
	Sections     []string      `json:"sections"` // the record sections this role is shown
	Withheld     []Withheld    `json:"withheld,omitempty"`
	// Objection is set when a patient's objection withheld sections
	// ("restricted sharing"); Sensitive counts items kept off laptops.
	Objection bool `json:"objection"`
	Sensitive int  `json:"sensitive"`
	// BreakGlass is set when the view was opened under emergency access.
	BreakGlass bool `json:"break_glass"`
	// Incident is the dispatch incident the view was opened for, if it was
	// opened from an incident's line ("4711").
	Incident string `json:"incident,omitempty"`
	// DemographicsOnly is set for roles that never see clinical sections.
	DemographicsOnly bool `json:"demographics_only"`
}

// Options are how the screen presenting a view differs from another.
type Options struct {
	Now time.Time // the time the view is shown: ages, the lease warning
	// Location is the time zone instants ("as of") are shown in; nil is
	// the local zone.
	Location *time.Location
	// LeaseWarning is how long before the offline lease ends the summary
	// warns that its offline copy is ending; zero never warns.
	LeaseWarning time.Duration
}

// presenter holds what one presentation is made from.
type presenter struct {
	s *record.Summary
	f Facts
	o Options
}

// Present decides what a screen shows of one patient's summary s, with the
// device's facts about it. The result is plain data, for any screen to map
// to widgets, text or HTML. A nil summary presents as an empty record:
// every section not available.
func Present(nhs record.NHSNumber, s *record.Summary, f Facts, o Options) *View {
	if s == nil {
		s = &record.Summary{}
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	p := &presenter{s: s, f: f, o: o}
	v := &View{DemographicsOnly: f.DemographicsOnly}
	v.Banner = BannerOf(&s.Demographics, nhs, o.Now)
	v.AsOf = p.asOf()
	v.Notices = p.notices()
	if f.DemographicsOnly {
		v.Sections = []Section{p.demographics(), p.gp()}
		return v
	}
	v.Alerts, v.NoAlerts = p.liveAlerts()
	v.Critical = p.critical()
	v.Sections = []Section{
		p.allergies(), p.medications(), p.problems(), p.carePlans(),
		p.observations(), p.encounters(), p.immunizations(), p.pastAlerts(),
	}
	if d := p.documents(); d != nil {
		v.Sections = append(v.Sections, *d)
	}
	v.Sections = append(v.Sections, p.demographics(), p.gp())
	v.Other = p.other()
	return v
}

// BannerOf formats demographics the NHS Common User Interface way: "SMITH,
// Jane Ann (Mrs)", "12-Mar-1962 (64y)", "943 476 5919". The age is on now's
// date, or on the date of death; a patient known to have died on an
// unknown date has no age.
func BannerOf(d *record.Demographics, nhs record.NHSNumber, now time.Time) Banner {
	if nhs.IsZero() {
		nhs = d.NHS
	}
	b := Banner{Name: d.Name.String(), Gender: titleCase(d.Gender), NHS: nhs.String()}
	if b.Name == "" {
		b.Name = "(no name recorded)"
	}
	if b.Gender == "" {
		b.Gender = "Not recorded"
	}
	switch {
	case d.BirthDate.IsZero() && d.BirthDate.Text == "":
		b.Born = "Not recorded"
	case d.BirthDate.IsZero():
		b.Born = d.BirthDate.String() // as written: it could not be read as a date
	case d.Deceased && d.DeceasedOn.IsZero():
		b.Born = d.BirthDate.String()
	default:
		end := now
		if d.Deceased {
			end = d.DeceasedOn.Time
		}
		b.Born = fmt.Sprintf("%s (%dy)", d.BirthDate.String(), record.Age(d.BirthDate.Time, end))
	}
	switch {
	case d.Restricted:
		b.Address = "Withheld: restricted record"
	case d.Address.String() != "":
		b.Address = d.Address.String()
	default:
		b.Address = "No address recorded"
	}
	if d.Deceased {
		b.Deceased = "DECEASED (date not recorded)"
		if on := deathDate(d); on != "" {
			b.Deceased = "DECEASED " + on
		}
	}
	return b
}

// deathDate is the date of death as a date ("05-Oct-1982"), without the
// time a source may give, or "" when unknown.
func deathDate(d *record.Demographics) string {
	on := d.DeceasedOn
	if on.Precision == record.PrecisionTime {
		return record.FormatDate(on.Time)
	}
	return dateOf(on)
}

// instant shows a moment in the screen's zone, NHS style.
func (p *presenter) instant(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.In(p.o.Location).Format("02-Jan-2006 15:04")
}

func (p *presenter) asOf() AsOf {
	a := AsOf{Time: p.instant(p.f.AsOf), Stale: p.f.Stale}
	if p.f.Freshness > 0 {
		a.Freshness = HumanDuration(p.f.Freshness)
	}
	if p.f.Stale {
		a.StaleText = "older than the freshness limit"
		if a.Freshness != "" {
			a.StaleText = "older than the " + a.Freshness + " freshness limit"
		}
	}
	if !p.f.NotAfter.IsZero() {
		rel := "caseload"
		switch {
		case p.breakGlass():
			rel = "emergency access"
		case p.f.Relationship == RelIncident:
			rel = "dispatch incident"
		}
		a.Held = "Held offline until " + p.instant(p.f.NotAfter) + " (" + rel + ")"
	}
	return a
}

func (p *presenter) breakGlass() bool {
	return p.f.BreakGlass || p.f.Relationship == RelBreakGlass
}

// notices are the blocks above every section, most urgent first.
func (p *presenter) notices() []Notice {
	var out []Notice
	add := func(key, head, text string, l Level) {
		out = append(out, Notice{Key: key, Head: head, Text: text, Level: l})
	}
	f := p.f
	if f.DemographicsOnly {
		add("front_desk", "", "Front desk view: demographics and registered GP only. Clinical information is not shown for your role.", Muted)
	}
	if p.breakGlass() {
		add("break_glass", "EMERGENCY ACCESS (break-glass)", "You opened this record without a care relationship. This access is audited and reported to the privacy officer.", Danger)
	}
	if f.Incident != "" {
		add("incident", "INCIDENT "+f.Incident, "Opened for emergency care at this incident. This access is audited; the summary closes when the incident ends.", Panel)
	}
	if f.Stale {
		add("stale", "STALE", fmt.Sprintf("Summary as of %s, %s. Newer information may exist: connect to refresh, and check with the patient.",
			p.instant(f.AsOf), p.asOf().StaleText), Caution)
	}
	if f.Objection {
		var secs []string
		for _, w := range f.Withheld {
			if w.Reason == WithheldObjection {
				secs = append(secs, w.Sections...)
			}
		}
		what := "clinical sections"
		if len(secs) > 0 {
			what = strings.Join(secs, ", ")
		}
		add("objection", "RESTRICTED SHARING", "The patient has objected to sharing their record for this purpose. Withheld: "+what+". Absence of information here does not mean there is none.", Caution)
	}
	for _, w := range f.Withheld {
		if w.Reason == WithheldTooLarge {
			add("too_large", "RECORD TOO LARGE", "The clinical sections are too large to hold offline and were withheld: "+strings.Join(w.Sections, ", ")+".", Caution)
		}
	}
	if f.Sensitive > 0 {
		add("sensitive", "SENSITIVE INFORMATION WITHHELD", Plural(f.Sensitive, "item is", "items are")+" never held on laptops (for example sexual health). Ask the patient or the GP if it matters now.", Caution)
	}
	if !f.NotAfter.IsZero() && p.o.LeaseWarning > 0 && f.NotAfter.Sub(p.o.Now) < p.o.LeaseWarning {
		add("lease", "OFFLINE COPY ENDING", "This summary can be shown offline until "+p.instant(f.NotAfter)+". Connect to renew it.", Caution)
	}
	if d := &p.s.Demographics; d.NHSAssigned {
		add("nhs_assigned", "NHS NUMBER ASSIGNED", "The source gave no NHS number; "+d.NHS.String()+" was assigned from the 999 test range, which is never issued to a person. Confirm identity another way.", Panel)
	}
	return out
}

// shown reports whether a section was shared with this device.
func (p *presenter) shown(section string) bool {
	for _, s := range p.f.Sections {
		if s == section {
			return true
		}
	}
	return false
}

// withheldWhy says why a section was not shared, or "" if it was.
func (p *presenter) withheldWhy(section string) string {
	if p.shown(section) {
		return ""
	}
	for _, w := range p.f.Withheld {
		for _, s := range w.Sections {
			if s != section {
				continue
			}
			switch w.Reason {
			case WithheldObjection:
				return "Withheld: the patient has objected to sharing it for this purpose (restricted sharing)."
			case WithheldTooLarge:
				return "Withheld: the record is too large to hold offline; view it online in the full record."
			}
		}
	}
	return "Not shared with this device for your role."
}

// newSection starts a section with its title, "as of" and staleness.
func (p *presenter) newSection(key, name, title string) Section {
	s := Section{Key: key, Name: name, Title: title, AsOf: "as of " + p.instant(p.f.AsOf)}
	if p.f.Stale {
		s.Stale = "STALE: " + p.asOf().StaleText
	}
	return s
}

// withheld fills a section that was not shared: why, and that its
// absence means nothing.
func (p *presenter) withheld(s Section, kind string) (Section, bool) {
	why := p.withheldWhy(s.Name)
	if why == "" {
		return s, false
	}
	s.Withheld = why
	s.Lines = []Line{line(Span{Text: kind + " information not available", Level: Caution, Strong: true}), line(Span{Text: why, Level: Caution, Strong: true})}
	return s, true
}
