package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// shell frames every unlocked screen: who is signed in and the lock button
// at the top, the page in the middle, the status bar at the foot.
type shell struct {
	root   fyne.CanvasObject
	page   *fyne.Container
	status *statusBar
}

// roleNames are the roles as people say them.
var roleNames = map[string]string{
	"paramedic":       "Paramedic",
	"community":       "Community care",
	"frontdesk":       "Front desk",
	"privacy-officer": "Privacy officer",
	"admin":           "Administrator",
}

func roleName(r string) string {
	if n, ok := roleNames[r]; ok {
		return n
	}
	return r
}

// newShell builds the frame for the signed-in user.
func (u *UI) newShell() *shell {
	p := u.core.Profile()
	who := line(span{"kmcr  ", style{col: theme.ColorNamePrimary, size: theme.SizeNameSubHeadingText, bold: true}},
		span{p.User, bold}, span{"  ·  " + roleName(p.Role), plain})
	who.Wrapping = fyne.TextWrapOff
	who.Truncation = fyne.TextTruncateEllipsis // never wider than the window
	search := u.button("Search", theme.SearchIcon(), widget.MediumImportance, u.goSearch)
	settings := u.button("Settings", theme.SettingsIcon(), widget.MediumImportance, u.goSettings)
	lock := u.button("Lock  (Ctrl+L)", theme.LoginIcon(), widget.HighImportance, func() { u.lock("Locked.") })
	top := container.NewStack(newThemedRect(theme.ColorNameHeaderBackground, "", 0), container.NewPadded(
		container.NewBorder(nil, nil, nil, container.NewHBox(search, settings, lock), who)))
	s := &shell{page: container.NewStack(), status: newStatusBar()}
	s.status.onDetails = u.showStatusDetails
	s.status.update(u.status, u.opts.now())
	s.root = container.NewBorder(top, s.status.root, nil, nil, s.page)
	return s
}

// showPage puts a page in the shell, making the shell if the window shows
// another screen.
func (u *UI) showPage(name string, page fyne.CanvasObject) {
	if u.shell == nil {
		u.shell = u.newShell()
	}
	u.shell.page.Objects = []fyne.CanvasObject{page}
	u.shell.page.Refresh()
	u.screen = name
	if u.win.Content() != u.shell.root {
		u.win.SetContent(u.shell.root)
	}
}

// showStatusDetails shows everything the status bar knows, in full: the
// connection's own error, the queue, the soonest lease end, the warnings.
func (u *UI) showStatusDetails(text string) {
	body := widget.NewLabel(text)
	body.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustom("Status details", "Close", container.NewVScroll(body), u.win)
	d.Resize(u.dialogSize(fyne.NewSize(720, 420)))
	d.Show()
}
