package ui

import (
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
)

// enrolScreen is the first-run form: the server and its CA, the user's
// account, and the local passphrase that protects the cache.
type enrolScreen struct {
	server, ca, user, password *entry
	pass1, pass2               *entry
	hint, match                *widget.RichText
	useFile                    *widget.Check
	secretFile                 *entry
	fileBox                    *fyne.Container
	msg                        *widget.RichText
	btn                        *widget.Button
}

// deviceSecretWarning is shown beside the device-secret-file option.
const deviceSecretWarning = "Only for computers without an OS keyring. The device secret is one of the two keys to the cache: " +
	"anyone who copies this file together with the cache needs only your passphrase. Keep the file on this computer, " +
	"outside the kmcr folder, never on a shared or removable drive."

func (u *UI) showEnrol(why string) {
	u.reopen = "" // a wiped or new profile has no patient to return to
	u.locked = true
	u.pauseIdle = false
	s := &enrolScreen{
		server:   newEntry(u, "wss://kmcr.example.nhs.uk:8443"),
		ca:       newEntry(u, "the server's CA certificate (PEM file)"),
		user:     newEntry(u, "your user name"),
		password: newPasswordEntry(u, "your care record password"),
		pass1:    newPasswordEntry(u, "a phrase of several words"),
		pass2:    newPasswordEntry(u, "the same phrase again"),
		hint:     line(span{"At least 8 characters; a phrase of several words is best.", muted}),
		match:    line(),
		msg:      line(),
	}
	if why != "" {
		setSpans(s.msg, span{why, danger})
	}
	if p := u.enrolPrefill; p != nil {
		s.server.SetText(strings.Join(core.SplitServers(p.Server+","+strings.Join(p.Servers, ",")), ", "))
		s.ca.SetText(p.CAFile)
		s.user.SetText(p.User)
		u.enrolPrefill = nil
	}
	s.pass1.OnChanged = func(string) { s.checkPassphrase() }
	s.pass2.OnChanged = func(string) { s.checkPassphrase() }
	chooseCA := u.button("Choose…", theme.FolderOpenIcon(), widget.MediumImportance, func() { u.chooseFile(s.ca, false) })
	s.secretFile = newEntry(u, "where to keep the device secret file")
	chooseSecret := u.button("Choose…", theme.FolderOpenIcon(), widget.MediumImportance, func() { u.chooseFile(s.secretFile, true) })
	s.fileBox = container.NewVBox(container.NewBorder(nil, nil, nil, chooseSecret, s.secretFile),
		block(colCaution, txt(deviceSecretWarning, style{col: colOnCaution})))
	s.fileBox.Hide()
	s.useFile = widget.NewCheck("Keep the device secret in a file instead of the OS keyring", func(on bool) {
		u.touch()
		if on {
			s.fileBox.Show()
		} else {
			s.fileBox.Hide()
		}
	})
	s.btn = u.button("Enrol this device", theme.ConfirmIcon(), widget.HighImportance, func() { u.submitEnrol(s) })
	for _, e := range []*entry{s.server, s.ca, s.user, s.password, s.pass1, s.pass2, s.secretFile} {
		e.OnSubmitted = func(string) { u.submitEnrol(s) }
	}

	form := widget.NewForm(
		widget.NewFormItem("Server", s.server),
		widget.NewFormItem("CA certificate", container.NewBorder(nil, nil, nil, chooseCA, s.ca)),
		widget.NewFormItem("User name", s.user),
		widget.NewFormItem("Password", s.password),
		widget.NewFormItem("Local passphrase", s.pass1),
		widget.NewFormItem("", s.hint),
		widget.NewFormItem("Passphrase again", s.pass2),
		widget.NewFormItem("", s.match),
	)
	body := container.NewVBox(
		txt("kmcr", style{col: theme.ColorNamePrimary, size: theme.SizeNameHeadingText, bold: true}),
		txt("Set up this device", heading),
		txt("Sign in once with your care record account. kmcr then keeps an encrypted copy of the summaries you may see, "+
			"so they open without a signal. The local passphrase unlocks that copy on this device; it never leaves it.", plain),
		form,
		s.useFile,
		s.fileBox,
		s.btn,
		s.msg,
	)
	u.setContent(screenEnrol, column(780, card(body)))
	u.win.Canvas().Focus(s.server)
}

// checkPassphrase shows the strength hint and whether the two agree.
func (s *enrolScreen) checkPassphrase() {
	hint, ok := core.PassphraseHint(s.pass1.Text)
	st := okText
	switch {
	case !ok:
		st = danger
	case strings.HasPrefix(hint, "Weak"), strings.HasPrefix(hint, "Fair"):
		st = warnText
	}
	if s.pass1.Text == "" {
		setSpans(s.hint, span{"At least 8 characters; a phrase of several words is best.", muted})
	} else {
		setSpans(s.hint, span{"Strength: ", plain}, span{hint, st})
	}
	switch {
	case s.pass2.Text == "":
		setSpans(s.match)
	case s.pass1.Text == s.pass2.Text:
		setSpans(s.match, span{"The passphrases match.", okText})
	default:
		setSpans(s.match, span{"The passphrases do not match.", danger})
	}
}

// chooseFile fills e from a file dialog (open, or save for a new file).
func (u *UI) chooseFile(e *entry, save bool) {
	if save {
		d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
			if err != nil || w == nil {
				return
			}
			_ = w.Close()
			e.SetText(w.URI().Path())
		}, u.win)
		d.SetFileName("kmcr-device-secret")
		d.Show()
		return
	}
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		_ = r.Close()
		e.SetText(r.URI().Path())
	}, u.win)
	d.SetFilter(storage.NewExtensionFileFilter([]string{".pem", ".crt", ".cer"}))
	d.Show()
}

// request validates the form into an enrolment request.
func (s *enrolScreen) request() (core.EnrolRequest, error) {
	req := core.EnrolRequest{
		Servers:  core.SplitServers(s.server.Text),
		CAFile:   strings.TrimSpace(s.ca.Text),
		User:     strings.TrimSpace(s.user.Text),
		Password: s.password.Text,
	}
	badServer := len(req.Servers) == 0
	for _, a := range req.Servers {
		badServer = badServer || !strings.HasPrefix(a, "wss://")
	}
	switch {
	case badServer:
		return req, formProblem("The server address starts with wss:// (for example wss://kmcr.example.nhs.uk:8443); separate the addresses of several nodes with commas.")
	case req.CAFile == "":
		return req, formProblem("Choose the server's CA certificate file.")
	case req.User == "" || req.Password == "":
		return req, formProblem("Type your user name and password.")
	}
	if _, ok := core.PassphraseHint(s.pass1.Text); !ok {
		return req, formProblem("The local passphrase must be at least 8 characters.")
	}
	if s.pass1.Text != s.pass2.Text {
		return req, formProblem("The two passphrases do not match.")
	}
	if s.useFile.Checked {
		f := strings.TrimSpace(s.secretFile.Text)
		if f == "" {
			return req, formProblem("Choose where to keep the device secret file, or use the OS keyring.")
		}
		req.DeviceSecretFile = filepath.Clean(f)
	}
	req.Passphrase = []byte(s.pass1.Text)
	return req, nil
}

// formProblem is a sentence telling the user what to fix in the form,
// shown as it is written.
type formProblem string

func (p formProblem) Error() string { return string(p) }

func (u *UI) submitEnrol(s *enrolScreen) {
	req, err := s.request()
	if err != nil {
		setSpans(s.msg, span{err.Error(), danger})
		return
	}
	s.password.SetText("")
	s.pass1.SetText("")
	s.pass2.SetText("")
	u.showFirstSync(&req)
}
