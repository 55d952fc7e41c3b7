package ui

import (
	"fmt"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
	"kmcr/present"
)

// incidentPanel is the finder's first block: a line per open dispatch
// incident the user is crew on ("Incident 4711: 2 people recorded at 12
// High Street, Rochester ME1 1AA") with each candidate as a result row
// under it, banner details first. Rows take the keyboard focus (Tab, or Up
// from the search box); Enter opens the candidate as an ordinary audited
// view for the incident. It holds names only while it shows them.
type incidentPanel struct {
	m     *mainScreen
	root  *fyne.Container
	ended *widget.RichText // why a summary open for an incident was closed
	box   *fyne.Container
	lists []*resultList // one per incident shown, in order
	shown string        // the signature of what the panel shows
	want  string        // the signature being loaded
}

func newIncidentPanel(m *mainScreen) *incidentPanel {
	p := &incidentPanel{m: m, ended: line(), box: container.NewVBox()}
	p.ended.Hide()
	p.root = container.NewVBox(p.ended, p.box)
	return p
}

// incidentRowsShown is how many candidates an incident's card lists; more
// are offered in the results list.
const incidentRowsShown = 5

// signature sums up what the panel must show of list: a change reloads it.
func incidentSignature(list []core.Incident) string {
	var b strings.Builder
	for _, in := range list {
		fmt.Fprintf(&b, "%s|%s|%s|%d|%v|%v;", in.ID, in.Address, in.Expires, len(in.NHS), in.NHS, in.OnDevice)
	}
	return b.String()
}

// update follows the status: when the open incidents or their candidates
// on the device change, the candidates are listed again (an audited
// listing, in the background) and the panel rebuilt.
func (p *incidentPanel) update(list []core.Incident) {
	sig := incidentSignature(list)
	if sig == p.shown || sig == p.want {
		return
	}
	p.want = sig
	u := p.m.u
	type loaded struct {
		in    core.Incident
		cands []core.PatientEntry
		err   error
	}
	later(u, func() ([]loaded, error) {
		out := make([]loaded, len(list))
		for i, in := range list {
			out[i].in = in
			if len(in.OnDevice) > 0 {
				out[i].cands, out[i].err = u.core.IncidentCandidates(in.ID)
			}
		}
		return out, nil
	}, func(ls []loaded, _ error) {
		if p.want != sig {
			return // a newer list is loading
		}
		p.shown, p.want = sig, ""
		p.box.RemoveAll()
		p.lists = p.lists[:0]
		for _, l := range ls {
			p.box.Add(p.incidentBlock(l.in, l.cands, l.err))
		}
		p.box.Refresh()
	})
}

// incidentBlock is one incident: its line, its candidates' rows, and what
// is missing.
func (p *incidentPanel) incidentBlock(in core.Incident, cands []core.PatientEntry, err error) fyne.CanvasObject {
	u := p.m.u
	until := in.Expires.Local().Format("02-Jan-2006 15:04")
	rows := []fyne.CanvasObject{
		line(span{in.Heading(), heading}),
		line(span{"Until " + until + ". Opening a person here is recorded as emergency care for this incident; no emergency access is needed.", muted}),
	}
	switch {
	case len(in.NHS) == 0:
		rows = append(rows, txt(present.IncidentNobody, bold))
		if u.core.Profile().BreakGlass {
			rows = append(rows, container.NewHBox(
				u.button("Search", theme.SearchIcon(), widget.MediumImportance, u.goSearch),
				u.button("Emergency access…  (Ctrl+E)", theme.WarningIcon(), widget.DangerImportance, func() { u.showBreakGlass("") })))
		}
	case err != nil:
		rows = append(rows, txt("The people recorded here could not be listed: "+friendlyError(err), danger))
	default:
		id := in.ID
		l := newResultList(u, "", func(e core.PatientEntry) { p.m.openForIncident(id, e) })
		l.onTop = func() { u.win.Canvas().Focus(p.m.query) }
		l.set(cands)
		p.lists = append(p.lists, l)
		if len(l.rows) <= incidentRowsShown {
			rows = append(rows, l.box)
		} else {
			// Many people at one address (a care home): the card scrolls,
			// so the search stays on screen; a focused row scrolls into view.
			h := float32(0)
			for _, r := range l.rows[:incidentRowsShown] {
				h += r.MinSize().Height + theme.Padding()
			}
			l.scroll.SetMinSize(fyne.NewSize(0, h))
			rows = append(rows, l.scroll)
		}
		if missing := len(in.NHS) - len(cands); missing > 0 {
			rows = append(rows, txt(plural(missing, "summary has", "summaries have")+" not reached this device yet: they arrive while it is connected.", warnText))
		}
	}
	return card(rows...)
}

// focusLast gives the keyboard focus to the last candidate row, for Up
// from the search box; it reports whether there was one.
func (p *incidentPanel) focusLast() bool {
	for i := len(p.lists) - 1; i >= 0; i-- {
		if l := p.lists[i]; len(l.rows) > 0 {
			return l.focus(len(l.rows) - 1)
		}
	}
	return false
}

// rows are every candidate row shown, for tests.
func (p *incidentPanel) rows() []*patientRow {
	var out []*patientRow
	for _, l := range p.lists {
		out = append(out, l.rows...)
	}
	return out
}

// clear forgets every candidate (on lock).
func (p *incidentPanel) clear() {
	p.box.RemoveAll()
	p.lists = nil
	p.shown, p.want = "", ""
	p.ended.Hide()
}

// openForIncident opens a candidate of an incident, off the UI goroutine.
func (m *mainScreen) openForIncident(id string, e core.PatientEntry) {
	u := m.u
	m.busy.Show()
	m.busy.Start()
	nhs := e.NHS.Digits()
	later(u, func() (*core.PatientView, error) { return u.core.OpenIncidentPatient(id, nhs) }, func(v *core.PatientView, err error) {
		m.busy.Stop()
		m.busy.Hide()
		if err != nil {
			u.showError("This patient could not be opened", err, nhs)
			return
		}
		m.incidents.ended.Hide()
		u.showSummary(v)
	})
}

// followIncidents updates the panel, and closes a summary opened for an
// incident that has ended, saying so plainly.
func (m *mainScreen) followIncidents(st core.Status) {
	if st.Locked || !st.Enrolled {
		return
	}
	m.incidents.update(st.Incidents)
	v := m.view
	if v == nil || v.Incident == "" || m.u.screen != screenSummary {
		return
	}
	if slices.ContainsFunc(st.Incidents, func(in core.Incident) bool { return in.ID == v.Incident }) {
		return
	}
	setSpans(m.incidents.ended, span{present.IncidentEnded(v.Incident), bold})
	m.incidents.ended.Show()
	m.u.showMain()
}
