package present

import (
	"fmt"
	"strings"
	"time"
)

// Level is how much a piece of text must stand out. Screens map it to
// their colours; the words carry the meaning on their own, so a screen
// without colour (the command line) loses nothing clinical.
type Level uint8

// Levels, from quiet to loud.
const (
	Normal  Level = iota // body text
	Muted                // secondary: dates, statuses, past and struck items
	Panel                // information on a neutral panel (the front-desk note, an alert of no known kind)
	Patient              // something the patient, not a clinician, recorded
	Good                 // a reassuring fact a source positively recorded: "No known allergies recorded"
	Caution              // amber: stale, withheld, not available, safeguarding, falls
	Danger               // red: resuscitation decisions, allergies, emergency access, death
)

var levelNames = [...]string{"normal", "muted", "panel", "patient", "good", "caution", "danger"}

// String returns the level's name: "normal", "muted", "panel", "patient",
// "good", "caution" or "danger".
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "normal"
}

// MarshalText writes the level's name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads a level's name.
func (l *Level) UnmarshalText(b []byte) error {
	for i, n := range levelNames {
		if n == string(b) {
			*l = Level(i)
			return nil
		}
	}
	return fmt.Errorf("unknown level %q", b)
}

// Span is a run of text with its emphasis.
type Span struct {
	Text   string `json:"text"`
	Level  Level  `json:"level,omitempty"`
	Strong bool   `json:"strong,omitempty"` // bold
	Large  bool   `json:"large,omitempty"`  // a size up: headlines, substances, latest values
	Small  bool   `json:"small,omitempty"`  // a size down: captions under an item
	// Struck is set on the name of a void item (entered in error or
	// refuted): drawn struck through, and always followed by a span that
	// says the word.
	Struck bool `json:"struck,omitempty"`
	// Badge is drawn as a filled badge of its level's colour (the red
	// "HIGH RISK" before a substance that may kill); text output prints it
	// in brackets.
	Badge bool `json:"badge,omitempty"`
}

// Line is one paragraph: spans that run on and wrap together.
type Line struct {
	Spans []Span `json:"spans"`
	// Block, when not Normal, puts the line on a panel of that level's
	// colour ("sources disagree" on amber).
	Block Level `json:"block,omitempty"`
}

// Text returns the line's text as plain words: the spans run together,
// struck ones included (the word after them says what they are).
func (l Line) Text() string {
	var b strings.Builder
	for _, s := range l.Spans {
		b.WriteString(s.Text)
	}
	return b.String()
}

// line makes a Line of spans.
func line(spans ...Span) Line { return Line{Spans: spans} }

// View is one patient's summary as every screen shows it: the window maps
// it to widgets, `kmcr show` to text (and prints it with --json), a web
// page to HTML. Every clinical decision (what is live, what is void, in
// what order, with what words, how loud) is made here, once.
type View struct {
	Banner Banner `json:"banner"`
	// Critical is the critical-facts line a screen keeps in view under the
	// banner: resuscitation status, allergies (the worst first) and
	// safeguarding. Empty for a demographics-only view.
	Critical []Fact `json:"critical"`
	AsOf     AsOf   `json:"as_of"`
	// Notices are the blocks shown first, before any section: emergency
	// access, stale, restricted sharing, too large, sensitive information
	// withheld, the offline copy ending, an assigned NHS number, the front
	// desk's limits.
	Notices []Notice `json:"notices"`
	// Alerts are the live alerts (DNACPR, ReSPECT, safeguarding, falls,
	// others), in that order, shown with the notices; when there is none,
	// NoAlerts says why.
	Alerts   []Notice `json:"alerts"`
	NoAlerts *Line    `json:"no_alerts,omitempty"`
	// DemographicsOnly is set for roles that see no clinical section: the
	// View then holds only the demographics and GP sections.
	DemographicsOnly bool `json:"demographics_only"`
	// Sections in the order a single-column screen shows them: allergies,
	// medications, problems, care plans, observations, encounters,
	// immunisations, past alerts, documents, demographics, registered GP.
	Sections []Section `json:"sections"`
	// Other counts what the record holds but the summary does not show:
	// "Also in the record, not shown on this summary: 16 claims, 4
	// diagnostic reports."
	Other *Line `json:"other,omitempty"`
}

// Section returns the section with the given key, or nil.
func (v *View) Section(key string) *Section {
	for i := range v.Sections {
		if v.Sections[i].Key == key {
			return &v.Sections[i]
		}
	}
	return nil
}

// Banner is who the patient is, in the NHS Common User Interface forms, as
// the strip at the top of every screen shows it.
type Banner struct {
	Name     string `json:"name"`     // "SMITH, Jane Ann (Mrs)", or "(no name recorded)"
	Born     string `json:"born"`     // "12-Mar-1962 (64y)"; the age stops at death; "Not recorded"
	Gender   string `json:"gender"`   // "Female", or "Not recorded"
	NHS      string `json:"nhs"`      // "943 476 5919"
	Address  string `json:"address"`  // the address shown, "Withheld: restricted record" or "No address recorded"
	Deceased string `json:"deceased"` // "DECEASED 02-Jan-2026", "DECEASED (date not recorded)" or ""
}

// Fact is one part of the critical-facts line.
type Fact struct {
	Label string `json:"label"` // "DNACPR", "ReSPECT", "Resuscitation", "Allergies", "Safeguarding"
	Text  string `json:"text"`
	Level Level  `json:"level"`
	// Parts are the allergies one by one, the worst first, each marked
	// when it may kill (high criticality or anaphylaxis); Text is them
	// joined with "; ". Empty for the other facts.
	Parts []FactPart `json:"parts,omitempty"`
}

// FactPart is one allergy of the critical line.
type FactPart struct {
	Text  string `json:"text"`  // "Penicillin (severe, high criticality)"
	Alarm bool   `json:"alarm"` // high criticality or anaphylaxis: a filled red badge before it
	Level Level  `json:"level"` // danger when Alarm, caution when severe, normal otherwise
}

// AlarmBadge is the badge before an allergy that may kill.
const AlarmBadge = "HIGH RISK"

// AsOf says how current the summary is and how long it is held.
type AsOf struct {
	Time      string `json:"time"`  // "25-Nov-2026 09:30", local time
	Stale     bool   `json:"stale"` // older than the freshness limit
	Freshness string `json:"freshness,omitempty"`
	// StaleText explains a stale summary: "older than the 24 h freshness limit".
	StaleText string `json:"stale_text,omitempty"`
	Held      string `json:"held,omitempty"` // "Held offline until 28-Nov-2026 09:30 (caseload)"
}

// Notice is a block at the top of a screen: a heading and its text.
type Notice struct {
	Key   string `json:"key"`  // "break_glass", "stale", "objection", "too_large", "sensitive", "lease", "nhs_assigned", "front_desk", or an alert's kind
	Head  string `json:"head"` // "EMERGENCY ACCESS (break-glass)", "DNACPR"...; "" for a note that is all text
	Text  string `json:"text"`
	Level Level  `json:"level"`
}

// Section is one card of a summary.
type Section struct {
	Key   string `json:"key"`     // "allergies", "past_alerts", "documents"...
	Name  string `json:"section"` // the record section it shows (record.SectionAllergies...)
	Title string `json:"title"`
	Count string `json:"count,omitempty"` // "2 medicines": live items only, never void ones
	AsOf  string `json:"as_of"`           // "as of 25-Nov-2026 09:30"
	Stale string `json:"stale,omitempty"` // "STALE: older than the 24 h freshness limit"
	// Withheld says why the section was not shared with this device; its
	// Lines then say what that means and Groups is empty.
	Withheld string  `json:"withheld,omitempty"`
	Lines    []Line  `json:"lines,omitempty"` // headline and notes under the title
	Groups   []Group `json:"groups,omitempty"`
}

// Items returns every item of every group, in order.
func (s *Section) Items() []Item {
	var out []Item
	for _, g := range s.Groups {
		out = append(out, g.Items...)
	}
	return out
}

// Group is a list of items under an optional title ("Past and stopped").
type Group struct {
	Key   string `json:"key"`            // "current", "past", "void", "patient", "document"...
	Title Line   `json:"title,omitzero"` // drawn above the items; empty for the first group of a section
	Show  int    `json:"show"`           // a screen that pages shows this many, then "and N more NOUN: show all"
	Noun  string `json:"noun"`           // "past medicines"
	Items []Item `json:"items"`
}

// Item is one entry of a list: an allergy, a medicine, a kind of reading...
type Item struct {
	Head Line   `json:"head"`           // its first line
	Body []Line `json:"body,omitempty"` // lines under it
	// More are lines a screen may keep behind a button ("Show the text",
	// "Show every reading"); text output prints them.
	More     []Line `json:"more,omitempty"`
	MoreName string `json:"more_name,omitempty"` // the button: "Show the text"
	Trend    *Trend `json:"trend,omitempty"`

	// What the item is, for programs and tests: its name as the source
	// gave it, its date (CUI and ISO), status, whether it is void and the
	// word that says so, and the resource it came from.
	Name    string `json:"name"`
	Date    string `json:"date,omitempty"`
	DateISO string `json:"date_iso,omitempty"`
	Status  string `json:"status,omitempty"`
	Void    bool   `json:"void"`
	Word    string `json:"word,omitempty"` // "entered in error", "refuted" for a void item
	// Alarm marks an allergy of high criticality or with anaphylaxis, for
	// a badge that a mild one never gets.
	Alarm  bool   `json:"alarm,omitempty"`
	Source string `json:"source,omitempty"`
}

// Trend is a small chart of the numeric readings of one kind, oldest first.
type Trend struct {
	Unit   string   `json:"unit"`
	Series []Series `json:"series"`
	Note   string   `json:"note"` // "3 readings from 15-Jul-2026 to 15-Nov-2026; lines: Systolic, Diastolic"
}

// Series is one line of a trend.
type Series struct {
	Name string `json:"name"`
	// Tone: "primary" for a clinician's readings, "patient" for the
	// patient's own, "secondary" for a second line (diastolic pressure).
	Tone   string  `json:"tone"`
	Points []Point `json:"points"`
}

// Point is one reading.
type Point struct {
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
}
