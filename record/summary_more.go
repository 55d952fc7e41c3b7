package record

import (
	"html"
	"strings"
)

// CarePlan is a plan of care, such as an end-of-life or diabetes plan.
type CarePlan struct {
	Title        string             `json:"title"`
	Category     string             `json:"category,omitempty"`
	Description  string             `json:"description,omitempty"`
	Status       string             `json:"status,omitempty"` // draft, active, on-hold, revoked, completed...
	Verification Verification       `json:"verification,omitempty"`
	Intent       string             `json:"intent,omitempty"`
	Period       Period             `json:"period,omitzero"`
	Activities   []CarePlanActivity `json:"activities,omitempty"`
	Date         Date               `json:"date,omitzero"` // start of the period, else created
	Source       ResourceRef        `json:"source"`
}

// CarePlanActivity is one planned action.
type CarePlanActivity struct {
	Text   string `json:"text"`
	Status string `json:"status,omitempty"`
}

type fhirCarePlan struct {
	Status      string
	Intent      string
	Category    []fhirCC
	Title       string
	Description string
	Period      *fhirPeriod
	Created     string
	Activity    []fhirActivity
}

type fhirActivity struct {
	Reference   *fhirRef
	Code        *fhirCC
	Status      string
	Description string
}

func readCarePlan(raw []byte) (p fhirCarePlan) {
	members(raw, func(k string, v []byte) {
		switch k {
		case "status":
			p.Status = jstr(v)
		case "intent":
			p.Intent = jstr(v)
		case "category":
			p.Category = readCCs(v)
		case "title":
			p.Title = jstr(v)
		case "description":
			p.Description = jstr(v)
		case "period":
			p.Period = readPeriod(v)
		case "created":
			p.Created = jstr(v)
		case "activity":
			elements(v, func(e []byte) {
				var a fhirActivity
				members(e, func(k string, v []byte) {
					switch k {
					case "reference":
						a.Reference = readRef(v)
					case "detail":
						members(v, func(k string, v []byte) {
							switch k {
							case "code":
								a.Code = readCC(v)
							case "status":
								a.Status = jstr(v)
							case "description":
								a.Description = jstr(v)
							}
						})
					}
				})
				p.Activity = append(p.Activity, a)
			})
		}
	})
	return p
}

func (s *Summary) addCarePlan(c *sumContext, r *Resource) {
	p := readCarePlan(r.Raw)
	item := CarePlan{Title: p.Title, Category: strings.Join(displays(p.Category), ", "), Description: p.Description,
		Status: p.Status, Verification: statusVerification(p.Status), Intent: p.Intent, Period: p.Period.period(), Source: refOf(r)}
	if item.Title == "" {
		if item.Title = item.Category; item.Title == "" {
			item.Title = orNoText(item.Description)
		}
	}
	for _, a := range p.Activity {
		act := CarePlanActivity{Status: a.Status}
		if act.Text = a.Code.display(); act.Text == "" {
			act.Text = a.Description
		}
		if act.Text == "" && a.Reference != nil {
			act.Text = a.Reference.Display
			if act.Text == "" {
				if t := c.refTarget(a.Reference); t != nil {
					act.Text = t.Type
				}
			}
		}
		if act.Text != "" || act.Status != "" {
			act.Text = orNoText(act.Text)
			item.Activities = append(item.Activities, act)
		}
	}
	item.Date = firstDateOf(p.Period.start(), p.Created)
	s.CarePlans.Items = append(s.CarePlans.Items, item)
}

// Immunization is a vaccination given (or recorded as not given).
type Immunization struct {
	Vaccine      string       `json:"vaccine"`
	Code         Coding       `json:"code,omitzero"`
	Status       string       `json:"status,omitempty"` // completed, not-done, entered-in-error
	Verification Verification `json:"verification,omitempty"`
	// NotGiven is set for status not-done: a record that the vaccine was
	// not given, which must never read as a vaccination.
	NotGiven  bool        `json:"not_given"`
	Date      Date        `json:"date,omitzero"`
	LotNumber string      `json:"lot_number,omitempty"`
	Performer string      `json:"performer,omitempty"`
	Source    ResourceRef `json:"source"`
}

type fhirImmunization struct {
	Status             string
	VaccineCode        *fhirCC
	OccurrenceDateTime string
	OccurrenceString   string
	Recorded           string
	LotNumber          string
	Performers         []*fhirRef
}

func readImmunization(raw []byte) (im fhirImmunization) {
	members(raw, func(k string, v []byte) {
		switch k {
		case "status":
			im.Status = jstr(v)
		case "vaccineCode":
			im.VaccineCode = readCC(v)
		case "occurrenceDateTime":
			im.OccurrenceDateTime = jstr(v)
		case "occurrenceString":
			im.OccurrenceString = jstr(v)
		case "recorded":
			im.Recorded = jstr(v)
		case "lotNumber":
			im.LotNumber = jstr(v)
		case "performer":
			elements(v, func(e []byte) {
				members(e, func(k string, v []byte) {
					if k == "actor" {
						im.Performers = append(im.Performers, readRef(v))
					}
				})
			})
		}
	})
	return im
}

func (s *Summary) addImmunization(c *sumContext, r *Resource) bool {
	im := readImmunization(r.Raw)
	date := firstDate(im.OccurrenceDateTime, nil, im.OccurrenceString)
	if date.IsZero() && date.Text == "" {
		date = ParseDate(im.Recorded)
	}
	if im.VaccineCode.hasCode(systemSNOMED, noImmunizationCode) || im.VaccineCode.hasCode(systemIPSAbsent, "no-known-immunizations") {
		if statusVerification(im.Status).Void() {
			return false
		}
		s.Immunizations.None = noneRecord(s.Immunizations.None, im.VaccineCode.display(), date, r)
		return true
	}
	item := Immunization{Vaccine: orNoText(im.VaccineCode.display()), Code: im.VaccineCode.code(),
		Status: im.Status, Verification: statusVerification(im.Status), NotGiven: im.Status == "not-done",
		Date: date, LotNumber: im.LotNumber, Source: refOf(r)}
	for _, p := range im.Performers {
		if n := c.name(p); n != "" {
			item.Performer = n
			break
		}
	}
	s.Immunizations.Items = append(s.Immunizations.Items, item)
	return true
}

type fhirList struct {
	Status      string
	Title       string
	Code        *fhirCC
	Date        string
	EmptyReason *fhirCC
	Entries     int
}

func readList(raw []byte) (l fhirList) {
	members(raw, func(k string, v []byte) {
		switch k {
		case "status":
			l.Status = jstr(v)
		case "title":
			l.Title = jstr(v)
		case "code":
			l.Code = readCC(v)
		case "date":
			l.Date = jstr(v)
		case "emptyReason":
			l.EmptyReason = readCC(v)
		case "entry":
			eachElement(v, func(int, []byte) bool { l.Entries++; return true })
		}
	})
	return l
}

// listSection says which summary section a List is about, from its code
// (LOINC section codes) or, failing that, the words of its code or title.
func listSection(l *fhirList) string {
	switch {
	case l.Code.hasCode(systemLOINC, "48765-2"):
		return SectionAllergies
	case l.Code.hasCode(systemLOINC, "10160-0"):
		return SectionMedications
	case l.Code.hasCode(systemLOINC, "11450-4"):
		return SectionProblems
	case l.Code.hasCode(systemLOINC, "11369-6"):
		return SectionImmunizations
	}
	t := strings.ToLower(l.Code.display() + " " + l.Title)
	switch {
	case strings.Contains(t, "allerg"):
		return SectionAllergies
	case strings.Contains(t, "medication"):
		return SectionMedications
	case strings.Contains(t, "problem"):
		return SectionProblems
	case strings.Contains(t, "immuni"):
		return SectionImmunizations
	}
	return ""
}

// addList takes an empty List whose emptyReason is "nilknown" as a
// statement that its section has none. It reports whether it used r.
func (s *Summary) addList(r *Resource) bool {
	l := readList(r.Raw)
	if l.Entries > 0 || !l.EmptyReason.hasCode("http://terminology.hl7.org/CodeSystem/list-empty-reason", "nilknown") {
		return false
	}
	// Only a current list says "none" now: not one entered in error, nor
	// a retired one.
	if statusVerification(l.Status).Void() || l.Status == "retired" {
		return false
	}
	text := l.Title
	if text == "" {
		text = l.EmptyReason.display()
	}
	date := ParseDate(l.Date)
	switch listSection(&l) {
	case SectionAllergies:
		s.Allergies.None = noneRecord(s.Allergies.None, text, date, r)
	case SectionMedications:
		s.Medications.None = noneRecord(s.Medications.None, text, date, r)
	case SectionProblems:
		s.Problems.None = noneRecord(s.Problems.None, text, date, r)
	case SectionImmunizations:
		s.Immunizations.None = noneRecord(s.Immunizations.None, text, date, r)
	default:
		return false
	}
	return true
}

// Document is a FHIR Composition: a document such as an NHS Summary Care
// Record, with the narrative of each section.
type Document struct {
	Title        string            `json:"title"`
	Type         string            `json:"type,omitempty"`
	Status       string            `json:"status,omitempty"` // preliminary, final, amended, entered-in-error
	Verification Verification      `json:"verification,omitempty"`
	Date         Date              `json:"date,omitzero"`
	Author       string            `json:"author,omitempty"`
	Sections     []DocumentSection `json:"sections,omitempty"`
	Source       ResourceRef       `json:"source"`
}

// DocumentSection is one titled section of a document, its XHTML narrative
// reduced to plain text (table cells separated by " | ", rows by lines).
type DocumentSection struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

type fhirSection struct {
	Title   string
	Div     string
	HasText bool
	Section []fhirSection
}

func readSections(v []byte) []fhirSection {
	var out []fhirSection
	elements(v, func(e []byte) {
		var sec fhirSection
		members(e, func(k string, v []byte) {
			switch k {
			case "title":
				sec.Title = jstr(v)
			case "text":
				sec.HasText = isObject(v)
				members(v, func(k string, v []byte) {
					if k == "div" {
						sec.Div = jstr(v)
					}
				})
			case "section":
				sec.Section = readSections(v)
			}
		})
		out = append(out, sec)
	})
	return out
}

func (s *Summary) addDocument(c *sumContext, r *Resource) {
	var d Document
	var sections []fhirSection
	var authors []fhirRef
	members(r.Raw, func(k string, v []byte) {
		switch k {
		case "author":
			authors = readRefs(v)
		case "title":
			d.Title = jstr(v)
		case "type":
			d.Type = readCC(v).display()
		case "status":
			d.Status = jstr(v)
		case "date":
			d.Date = ParseDate(jstr(v))
		case "section":
			sections = readSections(v)
		}
	})
	d.Source = refOf(r)
	d.Verification = statusVerification(d.Status)
	if d.Title == "" {
		d.Title = orNoText(d.Type)
	}
	for i := range authors {
		if n := c.name(&authors[i]); n != "" {
			d.Author = n
			break
		}
	}
	var walk func(secs []fhirSection, prefix string)
	walk = func(secs []fhirSection, prefix string) {
		for _, sec := range secs {
			title := prefix + sec.Title
			if sec.HasText {
				d.Sections = append(d.Sections, DocumentSection{Title: title, Text: narrativeText(sec.Div)})
			}
			walk(sec.Section, title+" / ")
		}
	}
	walk(sections, "")
	s.Documents = append(s.Documents, d)
}

// narrativeText reduces FHIR XHTML narrative to plain text: tags dropped,
// entities decoded, block elements on their own lines, table cells joined
// with " | ".
func narrativeText(div string) string {
	var b strings.Builder
	for i := 0; i < len(div); {
		if div[i] != '<' {
			j := strings.IndexByte(div[i:], '<')
			if j < 0 {
				j = len(div) - i
			}
			b.WriteString(html.UnescapeString(div[i : i+j]))
			i += j
			continue
		}
		j := strings.IndexByte(div[i:], '>')
		if j < 0 {
			break
		}
		tag := strings.ToLower(strings.TrimLeft(div[i+1:i+j], "/"))
		if k := strings.IndexAny(tag, " \t\n/"); k >= 0 {
			tag = tag[:k]
		}
		closing := strings.HasPrefix(div[i+1:], "/")
		switch tag {
		case "td", "th":
			if !closing {
				b.WriteString(" | ")
			}
		case "p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol":
			b.WriteByte('\n')
		}
		i += j + 1
	}
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		l = strings.Join(strings.Fields(l), " ")
		l = strings.TrimSpace(strings.TrimPrefix(l, "|"))
		if l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
