package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
	"kmcr/record"
)

// traceTimeout bounds the server's answer to a trace.
const traceTimeout = 20 * time.Second

// Words of the trace part of the break-glass dialog.
const (
	traceHeading   = "No NHS number? Find the patient by family name and date of birth (the server answers; needs a connection)"
	traceOffline   = "No connection: finding a patient by name needs the server. Enter the NHS number if you have it."
	traceAsk       = "Give the family name and the date of birth, for example SMITH and 19/05/1930."
	traceChooseFmt = "%d found: check the banner, then Enter (or Space) to choose; Up and Down move."
	traceChosenFmt = "Chosen: %s, NHS No. %s. Now choose a reason."
)

// traceForm is the break-glass dialog's "find by name" part: family
// name, date of birth (in the search's forms) and an optional postcode;
// Enter in any of them asks the server. The candidates it answers are
// listed with their banners; choosing one fills in the NHS number and
// shows that patient's banner above the reasons, so the banner is seen
// before access is asked for. Nothing is opened by a trace.
type traceForm struct {
	u        *UI
	b        *breakGlassDialog
	family   *entry
	born     *entry
	postcode *entry
	find     *widget.Button
	msg      *widget.RichText
	list     *fyne.Container // the candidates' reasonList
	cands    *reasonList
	found    []core.TraceCandidate
	chosen   *fyne.Container // the chosen candidate's banner
	chosenAs record.NHSNumber
	root     *fyne.Container
}

func newTraceForm(u *UI, b *breakGlassDialog) *traceForm {
	f := &traceForm{u: u, b: b, family: newEntry(u, "Family name"), born: newEntry(u, "e.g. 19/05/1930"),
		postcode: newEntry(u, "Postcode (optional)"), msg: line(), list: container.NewVBox(), chosen: container.NewVBox()}
	f.find = u.button("Find patient  (Enter)", theme.SearchIcon(), widget.MediumImportance, f.run)
	f.family.OnSubmitted = func(string) {
		if strings.TrimSpace(f.born.Text) == "" {
			u.win.Canvas().Focus(f.born)
			return
		}
		f.run()
	}
	f.born.OnSubmitted = func(string) { f.run() }
	f.postcode.OnSubmitted = func(string) { f.run() }
	for _, e := range []*entry{f.family, f.born, f.postcode} {
		e.OnChanged = func(string) { f.queryEdited() }
	}
	if !u.connected() {
		setSpans(f.msg, span{traceOffline, warnText})
	}
	col := func(label string, e *entry) fyne.CanvasObject {
		return container.NewVBox(widget.NewLabel(label), e)
	}
	f.root = card(
		txt(traceHeading, bold),
		container.NewGridWithColumns(3, col("Family name", f.family), col("Date of birth", f.born), col("Postcode (optional)", f.postcode)),
		container.NewHBox(f.find), f.msg, f.list, f.chosen,
	)
	return f
}

// connected says whether the sync service is talking to the server.
func (u *UI) connected() bool {
	switch u.status.State {
	case core.SyncUpToDate, core.SyncSyncing:
		return true
	}
	return false
}

// run asks the server for the patients matching the form.
func (f *traceForm) run() {
	family, born := strings.TrimSpace(f.family.Text), strings.TrimSpace(f.born.Text)
	if family == "" || born == "" {
		setSpans(f.msg, span{traceAsk, muted})
		if family == "" {
			f.u.win.Canvas().Focus(f.family)
		} else {
			f.u.win.Canvas().Focus(f.born)
		}
		return
	}
	f.clearCandidates()
	f.find.Disable()
	setSpans(f.msg, span{"Asking the server…", plain})
	postcode := f.postcode.Text
	later(f.u, func() (*core.TraceResult, error) {
		ctx, cancel := context.WithTimeout(context.Background(), traceTimeout)
		defer cancel()
		return f.u.core.Trace(ctx, family, born, postcode)
	}, func(res *core.TraceResult, err error) {
		f.find.Enable()
		if f.u.bgDialog != f.b {
			return // the dialog was closed meanwhile
		}
		switch {
		case errors.Is(err, core.ErrTraceNeedsConnection):
			setSpans(f.msg, span{traceOffline, warnText})
			f.u.win.Canvas().Focus(f.b.nhs)
		case errors.Is(err, core.ErrTraceInput):
			setSpans(f.msg, span{"✗ " + traceAsk, danger})
			f.u.win.Canvas().Focus(f.born)
		case err != nil:
			setSpans(f.msg, span{friendlyError(err), danger})
		case res.TooMany:
			setSpans(f.msg, span{res.Message, warnText})
			f.u.win.Canvas().Focus(f.postcode)
		case len(res.Candidates) == 0:
			setSpans(f.msg, span{res.Message, warnText})
			f.u.win.Canvas().Focus(f.family)
		default:
			f.show(res.Candidates)
		}
	})
}

// candidateText is a candidate's banner on two lines, for the list.
func candidateText(c core.TraceCandidate, now time.Time) string {
	b := c.Banner(now)
	return fmt.Sprintf("%s     Gender %s\nBorn %s     NHS No. %s     %s", b.Name, b.Gender, b.Born, b.NHS, b.Address)
}

// show lists the candidates and gives the keyboard to the first.
func (f *traceForm) show(cs []core.TraceCandidate) {
	now := time.Now()
	texts := make([]string, len(cs))
	for i, c := range cs {
		texts[i] = candidateText(c, now)
	}
	f.found = cs
	f.cands = newReasonList(f.u, texts, func() { f.u.touch(); f.choose() }, func() { f.b.reasons.focus(max(0, f.b.reasons.selected)) })
	f.list.Objects = []fyne.CanvasObject{f.cands.root}
	f.list.Refresh()
	setSpans(f.msg, span{fmt.Sprintf(traceChooseFmt, len(cs)), plain})
	f.cands.focus(0)
}

// choose fills in the chosen candidate's NHS number and shows its banner.
func (f *traceForm) choose() {
	if f.cands == nil || f.cands.selected < 0 {
		return
	}
	c := f.found[f.cands.selected]
	b := c.Banner(time.Now())
	f.chosenAs = c.NHS
	f.b.nhs.SetText(c.NHS.String()) // nhsEdited keeps the banner: it matches
	f.chosen.Objects = []fyne.CanvasObject{patientBanner(b)}
	f.chosen.Refresh()
	setSpans(f.msg, span{fmt.Sprintf(traceChosenFmt, b.Name, b.NHS), okText})
	f.b.validate()
}

// nhsEdited drops the chosen banner when the NHS number no longer is the
// chosen candidate's, so the banner shown is always the patient asked for.
func (f *traceForm) nhsEdited() {
	if f.chosenAs == "" {
		return
	}
	if n, err := record.ParseNHSNumber(f.b.nhs.Text); err == nil && n == f.chosenAs {
		return
	}
	f.chosenAs = ""
	f.chosen.Objects = nil
	f.chosen.Refresh()
	if f.cands != nil {
		f.cands.selected = -1
		for _, r := range f.cands.rows {
			r.paint()
		}
	}
}

// queryEdited drops a listed answer once the query changes: a list always
// belongs to the words in the boxes. A chosen patient stays (their NHS
// number is in its box, under their banner).
func (f *traceForm) queryEdited() {
	if f.cands == nil {
		return
	}
	f.found, f.cands = nil, nil
	f.list.Objects = nil
	f.list.Refresh()
	if f.chosenAs == "" {
		setSpans(f.msg)
	}
}

// clearCandidates removes a previous answer: the list belongs to the
// query that asked for it.
func (f *traceForm) clearCandidates() {
	f.found, f.cands = nil, nil
	f.list.Objects = nil
	f.list.Refresh()
	if f.chosenAs != "" {
		f.chosenAs = ""
		f.chosen.Objects = nil
		f.chosen.Refresh()
	}
}
