package ui

import (
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
	"kmcr/present"
	"kmcr/record"
)

// sectionCard is one section of a summary on screen. Its name is a
// record.Section constant, so a test can list exactly which sections a
// screen built (a front-desk screen must build no clinical one).
type sectionCard struct {
	widget.BaseWidget
	name    string
	content fyne.CanvasObject
}

func newSectionCard(name string, content ...fyne.CanvasObject) *sectionCard {
	c := &sectionCard{name: name, content: card(content...)}
	c.ExtendBaseWidget(c)
	return c
}

func (c *sectionCard) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(c.content)
}

// summaryView builds the screen for one opened patient from its
// presentation. It holds the view only while building; the screen's
// widgets hold text, not the view. Nothing clinical is decided here: what
// to show, in what order, with what words and how loud is the
// presentation's (package present); this file only maps it to widgets.
type summaryView struct {
	u   *UI
	v   *core.PatientView
	pv  *present.View
	now time.Time
}

// showSummary shows an opened patient.
func (u *UI) showSummary(v *core.PatientView) {
	if u.locked || u.main == nil {
		return
	}
	sv := &summaryView{u: u, v: v, now: u.opts.now()}
	obj := sv.build()
	u.main.view, u.main.summary = v, obj
	u.showPage(screenSummary, obj)
	u.win.Canvas().Focus(nil)
	u.background(func() {
		st := u.core.Status() // the view's audit event is now queued
		u.do(func() { u.onStatus(st) })
	})
}

func (sv *summaryView) build() fyne.CanvasObject {
	u, v := sv.u, *sv.v
	if u.core.Profile().Role == core.RoleFrontDesk {
		// Front desk: demographics and GP only, whatever the view says.
		v.DemographicsOnly = true
	}
	sv.pv = v.Present(sv.now)
	pv := sv.pv
	// The banner, the critical line and the action bar never scroll away.
	// The banner, the critical line and the "as of" line stay on screen;
	// the buttons scroll with the page, so that at 200 % text the page
	// keeps room for the summary itself.
	fixed := []fyne.CanvasObject{patientBanner(pv.Banner)}
	u.critical = criticalLine(pv.Critical, sv.asOfLine())
	fixed = append(fixed, u.critical)
	top := container.NewVBox(fixed...)
	body := append([]fyne.CanvasObject{sv.actions()}, sv.alertBlock()...)
	if pv.DemographicsOnly {
		// No clinical widget is built, whatever the summary holds.
		body = append(body, container.NewGridWithColumns(2, sv.card(present.KeyDemographics), sv.card(present.KeyGP)))
	} else {
		// One column in the presentation's order: allergies and current
		// medicines on the first screen, the charts below them.
		for _, s := range pv.Sections {
			if s.Key == present.KeyGP {
				continue // beside the demographics
			}
			if s.Key == present.KeyDemographics {
				body = append(body, container.NewGridWithColumns(2, sv.card(present.KeyDemographics), sv.card(present.KeyGP)))
				continue
			}
			body = append(body, sv.card(s.Key))
		}
		if pv.Other != nil {
			body = append(body, newSectionCard(record.SectionOther, lineObj(*pv.Other)))
		}
	}
	scroll := container.NewVScroll(compact(container.NewPadded(container.NewVBox(body...))))
	scroll.OnScrolled = func(fyne.Position) { u.touch() }
	u.pageScroll = scroll
	u.showingPage(scroll)
	return container.NewBorder(top, nil, nil, nil, scroll)
}

// scrollByKey moves the summary by the key typed: the arrows by a line,
// PageUp and PageDown by a screen less a line, Home and End to the ends.
// It reports whether the key was one of these.
func (u *UI) scrollByKey(k fyne.KeyName) bool {
	s := u.pageScroll
	if s == nil || u.screen != screenSummary || s.Content == nil {
		return false
	}
	step := 3 * theme.Size(theme.SizeNameText)
	view := s.Size().Height
	end := max(0, s.Content.MinSize().Height-view)
	y := s.Offset.Y
	switch k {
	case fyne.KeyDown:
		y += step
	case fyne.KeyUp:
		y -= step
	case fyne.KeyPageDown:
		y += max(step, view-step)
	case fyne.KeyPageUp:
		y -= max(step, view-step)
	case fyne.KeyHome:
		y = 0
	case fyne.KeyEnd:
		y = end
	default:
		return false
	}
	s.ScrollToOffset(fyne.NewPos(0, max(0, min(end, y))))
	u.touch()
	return true
}

// actions are Back and emergency access, at the top of the scrolling
// page (Esc and Ctrl+E do the same from anywhere).
func (sv *summaryView) actions() fyne.CanvasObject {
	u, v := sv.u, sv.v
	back := u.button("Back to search  (Esc)", theme.NavigateBackIcon(), widget.MediumImportance, u.goSearch)
	buttons := container.NewHBox(back)
	if u.core.Profile().BreakGlass && !v.BreakGlass && !sv.pv.DemographicsOnly {
		nhs := v.NHS.String()
		buttons.Add(u.button("Emergency access…  (Ctrl+E)", theme.WarningIcon(), widget.DangerImportance, func() { u.showBreakGlass(nhs) }))
	}
	return buttons
}

// asOfLine says when the summary was current, whether it is stale and
// how long it is held; it wraps, so it never widens the window.
func (sv *summaryView) asOfLine() *widget.RichText {
	a := sv.pv.AsOf
	asOf := []span{{"Summary as of ", plain}, {a.Time, bold}}
	if a.Stale {
		asOf = append(asOf, span{"  STALE", danger})
	}
	if a.Held != "" {
		asOf = append(asOf, span{"    " + a.Held, muted})
	}
	return line(asOf...)
}

// header is a section's title, count, "as of" time and staleness.
func (sv *summaryView) header(s *present.Section) fyne.CanvasObject {
	spans := []span{{s.Title, heading}}
	if s.Count != "" && !strings.HasPrefix(s.Count, "0 ") {
		spans = append(spans, span{"   " + s.Count, bold})
	}
	asOf := []span{{s.AsOf, caption}}
	if s.Stale != "" {
		asOf = append(asOf, span{"   " + s.Stale, warnText})
	}
	return container.NewVBox(line(spans...), line(asOf...))
}

// notice is a block at the top: a heading, then its text.
func notice(n present.Notice) fyne.CanvasObject {
	var fill, on fyne.ThemeColorName
	switch n.Level {
	case present.Danger:
		fill, on = colDanger, colOnDanger
	case present.Caution:
		fill, on = colCaution, colOnCaution
	case present.Muted:
		fill = theme.ColorNameHeaderBackground
	default:
		fill = colPanel
	}
	if n.Head == "" {
		return block(fill, txt(n.Text, style{col: on, bold: true}))
	}
	return block(fill, line(span{n.Head + "  ", style{col: on, size: theme.SizeNameSubHeadingText, bold: true}}, span{n.Text, style{col: on, bold: true}}))
}

// alertBlock is what a paramedic must see first: the notices (emergency
// access, stale, withheld data...), then the live alerts (DNACPR and
// ReSPECT in red, safeguarding and falls in amber), or why there is none.
func (sv *summaryView) alertBlock() []fyne.CanvasObject {
	var out []fyne.CanvasObject
	// The live alerts come before the notices: on an emergency-access
	// summary the DNACPR is read before the administrative bars.
	for _, a := range sv.pv.Alerts {
		out = append(out, notice(a))
	}
	for _, n := range sv.pv.Notices {
		out = append(out, notice(n))
	}
	if sv.pv.NoAlerts != nil {
		out = append(out, lineObj(*sv.pv.NoAlerts))
	}
	return out
}
