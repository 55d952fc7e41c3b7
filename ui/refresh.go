package ui

import (
	"fyne.io/fyne/v2"

	"kmcr/core"
)

// refreshSummary follows the sync on the open summary: when a newer copy
// of the patient arrived, or the cache was confirmed current since, the
// summary is built again from it (with its new "as of") where the reader
// was: the same scroll position, the banner and the critical line in
// place. It runs after every status
// change; one check at a time.
func (u *UI) refreshSummary() {
	if u.locked || u.main == nil || u.main.view == nil || u.screen != screenSummary || u.refreshing {
		return
	}
	shown := u.main.view
	u.refreshing = true
	later(u, func() (*core.PatientView, error) {
		nv, changed, err := u.core.Refreshed(shown)
		if !changed {
			nv = nil
		}
		return nv, err
	}, func(nv *core.PatientView, err error) {
		u.refreshing = false
		if err != nil || nv == nil || u.locked || u.main == nil || u.main.view != shown || u.screen != screenSummary {
			return // nothing newer, or the reader has moved on
		}
		var off fyne.Position
		if u.pageScroll != nil {
			off = u.pageScroll.Offset
		}
		sv := &summaryView{u: u, v: nv, now: u.opts.now()}
		obj := sv.build()
		u.main.view, u.main.summary = nv, obj
		u.showPage(screenSummary, obj)
		if s := u.pageScroll; s != nil {
			s.Offset = off
			s.Refresh() // clamps to the new content
		}
	})
}
