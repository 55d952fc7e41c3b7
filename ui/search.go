package ui

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
	"kmcr/record"
)

// searchLimit is how many matches a search shows at first; the rest are
// offered with a "Show all" button, never dropped silently.
const searchLimit = 50

// showAllLimit bounds "Show all": beyond it, the search must be narrowed.
const showAllLimit = 1000

// Tabs of the main screen.
const (
	tabResults  = "Results"
	tabRecent   = "Recent"
	tabCaseload = "Caseload"
)

// mainScreen is the patient finder, and the patient open from it. It lives
// while the cache is unlocked; drop forgets every patient on lock.
type mainScreen struct {
	u        *UI
	page     fyne.CanvasObject
	query    *entry
	hint     *widget.RichText
	tabs     *container.AppTabs
	tabItems map[string]*container.TabItem
	results  *resultList
	recent   *resultList
	caseload *resultList // nil unless the role has a caseload
	busy     *widget.ProgressBarInfinite
	view     *core.PatientView // the patient on screen
	summary  fyne.CanvasObject
	// shownFor is the query the results list belongs to; the moment the
	// box says anything else, the list is emptied, so a row from an older
	// search can never be opened by mistake.
	shownFor string
	searchNo int // the search that is current; an older one's answer is dropped
	// incidents are the open dispatch incidents, above the search
	// (incidents.go).
	incidents *incidentPanel
}

// keyHint says exactly what the keys do in the finder.
const keyHint = "Enter searches. Down selects the first patient in the list; Up and Down move along it; Enter opens the selected patient."

// showMain shows the finder, building it after an unlock.
func (u *UI) showMain() {
	if u.main == nil {
		u.main = u.newMainScreen()
	}
	m := u.main
	m.view, m.summary = nil, nil
	u.showPage(screenMain, m.page)
	u.win.Canvas().Focus(m.query)
	m.loadRecent()
	later(u, func() (core.Status, error) { return u.core.Status(), nil }, func(st core.Status, _ error) { m.followIncidents(st) })
}

func (u *UI) newMainScreen() *mainScreen {
	m := &mainScreen{u: u, hint: line(), busy: widget.NewProgressBarInfinite(), tabItems: map[string]*container.TabItem{}}
	m.busy.Stop()
	m.busy.Hide()
	m.query = newEntry(u, "NHS number, or family name and date of birth, or postcode")
	m.query.OnChanged = func(s string) {
		m.showHint(s)
		m.forgetResultsUnless(s)
	}
	m.query.OnSubmitted = func(string) { m.search(searchLimit) }
	m.query.onKey = func(k *fyne.KeyEvent) bool {
		if k.Name == fyne.KeyDown {
			return m.focusList()
		}
		if k.Name == fyne.KeyUp {
			return m.incidents.focusLast()
		}
		return false
	}
	m.showHint("")
	m.results = newResultList(u, "Type an NHS number (943 476 5919), a family name with a date of birth (smith 12-Mar-1962), or a postcode (ME7 2JH), then press Enter.", m.open)
	m.recent = newResultList(u, "Patients you open appear here.", m.open)
	back := func() { u.win.Canvas().Focus(m.query) }
	m.results.onTop, m.recent.onTop = back, back
	m.tabItems[tabResults] = container.NewTabItem(tabResults, m.results.root)
	m.tabItems[tabRecent] = container.NewTabItem(tabRecent, m.recent.root)
	items := []*container.TabItem{m.tabItems[tabResults], m.tabItems[tabRecent]}
	if u.core.Profile().Role == "community" {
		m.caseload = newResultList(u, "Your caseload: every patient cached on this device for you.", m.open)
		m.caseload.onTop = back
		m.tabItems[tabCaseload] = container.NewTabItem(tabCaseload, m.caseload.root)
		items = append(items, m.tabItems[tabCaseload])
	}
	m.tabs = container.NewAppTabs(items...)
	m.tabs.OnSelected = func(t *container.TabItem) {
		u.touch()
		switch t.Text {
		case tabRecent:
			m.loadRecent()
		case tabCaseload:
			m.loadCaseload()
		}
	}
	searchBtn := u.button("Search", theme.SearchIcon(), widget.HighImportance, func() { m.search(searchLimit) })
	actions := container.NewHBox()
	if u.core.Profile().BreakGlass {
		actions.Add(u.button("Emergency access…  (Ctrl+E)", theme.WarningIcon(), widget.DangerImportance, func() { u.showBreakGlass(m.nhsInQuery()) }))
	}
	m.incidents = newIncidentPanel(m)
	top := container.NewVBox(
		m.incidents.root,
		txt("Find a patient", heading),
		container.NewBorder(nil, nil, nil, searchBtn, m.query),
		m.hint,
		m.busy,
		actions,
	)
	m.page = container.NewPadded(container.NewBorder(top, nil, nil, nil, m.tabs))
	return m
}

// drop forgets every patient: the open view and every list.
func (m *mainScreen) drop() {
	m.view, m.summary = nil, nil
	m.incidents.clear()
	m.results.clear()
	m.recent.clear()
	if m.caseload != nil {
		m.caseload.clear()
	}
	m.query.SetText("")
}

// looksLikeNHS reports whether s is digits with optional spaces or hyphens.
func looksLikeNHS(s string) (digits int, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	for _, r := range s {
		switch {
		case unicode.IsDigit(r):
			digits++
		case r == ' ' || r == '-':
		default:
			return 0, false
		}
	}
	return digits, digits > 0
}

// showHint validates an NHS number's check digit as it is typed, and says
// what kind of search the text will run.
func (m *mainScreen) showHint(s string) {
	digits, isNHS := looksLikeNHS(s)
	switch {
	case strings.TrimSpace(s) == "":
		setSpans(m.hint, span{keyHint, muted})
	case isNHS && looksLikeDate(s):
		setSpans(m.hint, span{"8 digits: Enter searches them as a date of birth, day first (12031948 is 12-Mar-1948). An NHS number has 10.", plain})
	case isNHS && digits < 10:
		setSpans(m.hint, span{fmt.Sprintf("NHS number: %d of 10 digits", digits), plain})
	case isNHS:
		if n, err := record.ParseNHSNumber(s); err == nil {
			setSpans(m.hint, span{"✓ Valid NHS number ", okText}, span{n.String(), bold})
		} else if digits > 10 {
			setSpans(m.hint, span{"✗ Too many digits: an NHS number has 10.", danger})
		} else {
			setSpans(m.hint, span{"✗ Not a valid NHS number: the check digit does not match. Check each digit.", danger})
		}
	default:
		setSpans(m.hint, span{"Name or postcode search: given and family name in either order, a date of birth narrows it (shirley smith 19/05/1930).", muted})
	}
}

// nhsInQuery returns the query if it is a valid NHS number.
func (m *mainScreen) nhsInQuery() string {
	if n, err := record.ParseNHSNumber(m.query.Text); err == nil {
		return n.String()
	}
	return ""
}

// search runs the query off the UI goroutine (it writes an audit event).
func (m *mainScreen) search(limit int) {
	u := m.u
	q := strings.TrimSpace(m.query.Text)
	if q == "" {
		m.showHint("")
		return
	}
	m.searchNo++
	no := m.searchNo
	m.tabs.Select(m.tabItems[tabResults])
	if digits, isNHS := looksLikeNHS(q); isNHS && !looksLikeDate(q) {
		if _, err := record.ParseNHSNumber(q); err != nil || digits != 10 {
			// An invalid NHS number: no search, and nothing from the last
			// one may stay selectable.
			m.showHint(q)
			m.results.set(nil, span{fmt.Sprintf("“%s” is not a valid NHS number, so nothing was searched. ", q), danger},
				span{"Check each digit: an NHS number has 10, the last one a check digit (943 476 5919).", plain})
			m.shownFor = q
			return
		}
	}
	m.results.set(nil, span{fmt.Sprintf("Searching for “%s”…", q), muted})
	m.shownFor = q
	m.busy.Show()
	m.busy.Start()
	later(u, func() (*core.SearchResult, error) { return u.core.Search(q, limit) }, func(res *core.SearchResult, err error) {
		if no != m.searchNo || strings.TrimSpace(m.query.Text) != q {
			return // the box says something else now: these results are not its
		}
		m.busy.Stop()
		m.busy.Hide()
		if err != nil {
			msg := friendlyError(err)
			if errors.Is(err, core.ErrBadQuery) {
				msg = badQueryText(err)
			}
			m.results.set(nil, span{msg, danger})
			return
		}
		m.showResults(q, res)
	})
}

func (m *mainScreen) showResults(q string, res *core.SearchResult) {
	u := m.u
	switch {
	case res.Total == 0 && len(res.Suggestions) > 0:
		// A close match comes before any talk of emergency access.
		names := make([]string, len(res.Suggestions))
		for i, e := range res.Suggestions {
			names[i] = entryName(e) + ", " + record.ParseDate(e.BirthDate).String()
		}
		m.results.set(res.Suggestions, span{fmt.Sprintf("No patient found on this device for “%s”. ", q), bold},
			span{"Did you mean " + strings.Join(names, ", or ") + "? ", bold},
			span{"Check the name, date of birth and NHS number before opening.", plain})
		if u.core.Profile().BreakGlass {
			m.results.extra.Add(u.button("None of these: emergency access (break-glass)…", theme.WarningIcon(), widget.DangerImportance,
				func() { u.showBreakGlass(m.nhsInQuery()) }))
		}
		u.win.Canvas().Focus(m.query)
		return
	case res.Total == 0:
		m.results.set(nil, span{fmt.Sprintf("No patient found on this device for “%s”.", q), bold},
			span{" Only patients held on this device can be found without a connection.", plain})
		if u.core.Profile().BreakGlass {
			m.results.extra.Add(u.button("Emergency access (break-glass) for this patient…", theme.WarningIcon(), widget.DangerImportance,
				func() { u.showBreakGlass(m.nhsInQuery()) }))
		}
		u.win.Canvas().Focus(m.query)
		return
	case len(res.Entries) < res.Total:
		m.results.set(res.Entries, span{fmt.Sprintf("Showing %d of %d patients for “%s”. ", len(res.Entries), res.Total, q), bold},
			span{"Add a date of birth or more of the name to narrow the search.", plain})
		if res.Total <= showAllLimit {
			m.results.extra.Add(u.button(fmt.Sprintf("Show all %d", res.Total), theme.ListIcon(), widget.MediumImportance, func() { m.search(res.Total) }))
		}
	default:
		m.results.set(res.Entries, span{fmt.Sprintf("%s for “%s”. ", plural(res.Total, "patient", "patients"), q), bold},
			span{"Check the name, date of birth and NHS number before opening.", plain})
	}
	// The focus stays in the box: Down selects the first row, as the
	// hint says, and Enter there opens it.
	u.win.Canvas().Focus(m.query)
}

// forgetResultsUnless empties the results list unless it belongs to q: a
// changed, or invalid, query never leaves an older search's patients
// listed and selectable.
func (m *mainScreen) forgetResultsUnless(q string) {
	q = strings.TrimSpace(q)
	if q == m.shownFor || (m.shownFor == "" && len(m.results.rows) == 0) {
		return
	}
	m.searchNo++ // a search still running is for another query
	m.busy.Stop()
	m.busy.Hide()
	m.shownFor = ""
	if q == "" {
		m.results.set(nil, span{"Type an NHS number, a name with a date of birth, or a postcode, then press Enter.", muted})
	} else {
		m.results.set(nil, span{"Press Enter to search for “" + q + "”.", muted})
	}
}

// focusList moves the keyboard focus to the first row of the tab shown.
func (m *mainScreen) focusList() bool {
	switch m.tabs.Selected().Text {
	case tabRecent:
		return m.recent.focus(0)
	case tabCaseload:
		return m.caseload.focus(0)
	}
	return m.results.focus(0)
}

func (m *mainScreen) loadRecent() {
	later(m.u, m.u.core.Recent, func(list []core.PatientEntry, err error) {
		if err != nil {
			m.recent.set(nil, span{friendlyError(err), danger})
			return
		}
		if len(list) == 0 {
			m.recent.set(nil, span{"No patients opened yet on this device.", muted})
			return
		}
		m.recent.set(list, span{"Recently opened, newest first.", plain})
	})
}

func (m *mainScreen) loadCaseload() {
	if m.caseload == nil {
		return
	}
	later(m.u, m.u.core.Caseload, func(list []core.PatientEntry, err error) {
		if err != nil {
			m.caseload.set(nil, span{friendlyError(err), danger})
			return
		}
		m.caseload.set(list, span{plural(len(list), "patient", "patients") + " in your caseload on this device.", bold})
	})
}

// open reads and audits a patient off the UI goroutine, then shows them.
func (m *mainScreen) open(e core.PatientEntry) {
	u := m.u
	m.busy.Show()
	m.busy.Start()
	nhs := e.NHS.Digits()
	later(u, func() (*core.PatientView, error) { return u.core.OpenPatient(nhs, nil) }, func(v *core.PatientView, err error) {
		m.busy.Stop()
		m.busy.Hide()
		if err != nil {
			u.showError("This patient could not be opened", err, nhs)
			return
		}
		u.showSummary(v)
	})
}

// onStatus lets the finder react to status changes: the open incidents.
func (m *mainScreen) onStatus(st core.Status) { m.followIncidents(st) }

// goSearch returns to the finder and focuses the search box.
func (u *UI) goSearch() {
	if u.locked || u.main == nil {
		return
	}
	if u.screen != screenMain {
		u.showMain()
		return
	}
	u.win.Canvas().Focus(u.main.query)
}

// showTab selects a tab of the finder.
func (u *UI) showTab(name string) {
	if u.locked || u.main == nil {
		return
	}
	t, ok := u.main.tabItems[name]
	if !ok {
		return
	}
	if u.screen != screenMain {
		u.showMain()
	}
	u.main.tabs.Select(t)
	// The focus goes to the box, as after a search: Down selects the
	// list's first row, so following the hint opens the first patient.
	u.win.Canvas().Focus(u.main.query)
}

// searchExample is the one example every search message gives.
const searchExample = "Try an NHS number (943 476 5919), a name with a date of birth (shirley smith 19/05/1930), or a postcode (ME7 2JH)."

// badQueryText says once why a search was not understood, with an example:
// "Search not understood: “x” is not ... Try ...".
func badQueryText(err error) string {
	why := strings.TrimPrefix(err.Error(), core.ErrBadQuery.Error())
	why = strings.TrimLeft(why, ": ")
	if why == "" {
		return "Search not understood. " + searchExample
	}
	return "Search not understood: " + why + ". " + searchExample
}

// looksLikeDate reports whether s is eight digits that read as a date of
// birth, day first (12031948).
func looksLikeDate(s string) bool {
	d := strings.TrimSpace(s)
	if len(d) != 8 || strings.Trim(d, "0123456789") != "" {
		return false
	}
	day, month := (d[0]-'0')*10+d[1]-'0', (d[2]-'0')*10+d[3]-'0'
	return day >= 1 && day <= 31 && month >= 1 && month <= 12
}
