package ui

import (
	"fmt"
	"runtime"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/core"
)

// wipeWord is what the user types to confirm a wipe.
const wipeWord = "WIPE"

// wipeFlush is how long a wipe waits to deliver the audit queue first.
const wipeFlush = 5 * time.Second

// goSettings shows Settings and About.
func (u *UI) goSettings() {
	if u.locked || u.main == nil {
		return
	}
	u.main.view, u.main.summary = nil, nil
	u.showPage(screenSettings, u.settingsPage())
	u.background(func() {
		st := u.core.Status()
		u.do(func() { u.onStatus(st) })
	})
}

func (u *UI) settingsPage() fyne.CanvasObject {
	p := u.core.Profile()
	st := u.status
	kv := func(k, v string) fyne.CanvasObject { return line(span{k + "  ", muted}, span{v, bold}) }
	secret := "OS keyring"
	if p.Secrets == core.SecretsFile {
		secret = "file " + p.SecretFile
	}
	autolock := defaultAutolock
	if p.Autolock > 0 {
		autolock = time.Duration(p.Autolock) * time.Second
	}
	device := compact(card(txt("This device", heading),
		kv("Server", serverText(p)), kv("User", p.User), kv("Role", roleName(p.Role)),
		kv("Device ID", p.DeviceID), kv("Computer", p.Host), kv("Enrolled", fmtTime(p.Enrolled)),
		kv("Device secret", secret),
		kv("Locks after", humanDuration(autolock)+" without activity"),
		kv("Stale after", humanDuration(time.Duration(p.Freshness)*time.Second)),
		kv("Emergency access", map[bool]string{true: "allowed for your role", false: "not allowed for your role"}[p.BreakGlass])))
	data := card(compact(container.NewVBox(txt("Local data", heading),
		kv("Patients on this device", fmt.Sprint(st.CachedPatients)),
		kv("Cache size", byteSize(st.CacheBytes)),
		kv("Audit events waiting", fmt.Sprint(st.PendingAuditEvents)),
		kv("Last up to date", fmtTime(st.LastUpToDate)),
		kv("First sync", map[bool]string{true: "complete", false: "incomplete"}[st.FirstSyncComplete]))),
		u.button("Wipe local data…", theme.DeleteIcon(), widget.DangerImportance, u.confirmWipe))

	themeChoice := widget.NewRadioGroup([]string{"System", "Light", "Dark"}, func(s string) {
		u.touch()
		u.setThemeMode(map[string]string{"System": themeSystem, "Light": themeLight, "Dark": themeDark}[s])
	})
	themeChoice.Horizontal = true
	themeChoice.SetSelected(map[string]string{themeSystem: "System", themeLight: "Light", themeDark: "Dark"}[u.theme.mode])
	scale := nowrap(line(span{fmt.Sprintf("Text size %d%%", int(u.theme.scale*100+0.5)), bold}))
	smaller := u.button("Smaller  (Ctrl+-)", theme.ZoomOutIcon(), widget.MediumImportance, func() { u.scaleText(-textScaleStep) })
	larger := u.button("Larger  (Ctrl+=)", theme.ZoomInIcon(), widget.MediumImportance, func() { u.scaleText(textScaleStep) })
	look := card(txt("Appearance", heading), themeChoice, container.NewHBox(smaller, container.NewCenter(scale), larger))

	pass := u.passphraseCard()

	keys := container.New(layout.NewFormLayout())
	for _, b := range bindings() {
		if b.keys == "" {
			continue
		}
		keys.Add(txt(b.keys, bold))
		keys.Add(txt(b.label, plain))
	}
	for _, k := range keyHelp {
		keys.Add(txt(k[0], bold))
		keys.Add(txt(k[1], plain))
	}
	about := compact(card(txt("About kmcr", heading),
		kv("Version", core.Version), kv("Application ID", AppID),
		kv("Built with", runtime.Version()+", Fyne v2.7"),
		txt("kmcr shows the summary care record offline. Every search and every patient opened is recorded in an audit log that the patient can ask to see.", plain),
		txt("Keyboard", style{bold: true, size: theme.SizeNameSubHeadingText}), keys))

	back := u.button("Back to search  (Esc)", theme.NavigateBackIcon(), widget.MediumImportance, u.goSearch)
	left := container.NewVBox(device, data)
	right := container.NewVBox(look, pass)
	page := container.NewVBox(container.NewHBox(back), txt("Settings and about", heading),
		container.NewGridWithColumns(2, left, right), about)
	scroll := container.NewVScroll(container.NewPadded(page))
	scroll.OnScrolled = func(fyne.Position) { u.touch() }
	u.showingPage(scroll)
	return scroll
}

// passphraseCard changes the local passphrase (not the care record
// password, which the server holds).
func (u *UI) passphraseCard() fyne.CanvasObject {
	old := newPasswordEntry(u, "current passphrase")
	n1 := newPasswordEntry(u, "new passphrase")
	n2 := newPasswordEntry(u, "new passphrase again")
	msg := line()
	var btn *widget.Button
	check := func() {
		hint, ok := core.PassphraseHint(n1.Text)
		switch {
		case n1.Text == "":
			setSpans(msg)
		case !ok:
			setSpans(msg, span{hint, danger})
		case n2.Text != "" && n1.Text != n2.Text:
			setSpans(msg, span{"The new passphrases do not match.", danger})
		default:
			setSpans(msg, span{"Strength: ", plain}, span{hint, bold})
		}
	}
	n1.OnChanged = func(string) { check() }
	n2.OnChanged = func(string) { check() }
	btn = u.button("Change passphrase", theme.ConfirmIcon(), widget.MediumImportance, func() {
		if _, ok := core.PassphraseHint(n1.Text); !ok || n1.Text != n2.Text || old.Text == "" {
			setSpans(msg, span{"Type the current passphrase and the new one twice.", danger})
			return
		}
		o, n := []byte(old.Text), []byte(n1.Text)
		old.SetText("")
		n1.SetText("")
		n2.SetText("")
		btn.Disable()
		setSpans(msg, span{"Changing…", plain})
		later(u, func() (struct{}, error) {
			err := u.core.ChangePassphrase(o, n)
			clear(o)
			clear(n)
			return struct{}{}, err
		}, func(_ struct{}, err error) {
			btn.Enable()
			if err != nil {
				setSpans(msg, span{friendlyError(err), danger})
				return
			}
			setSpans(msg, span{"Passphrase changed. Use the new one from the next unlock.", okText})
		})
	})
	return card(txt("Local passphrase", heading),
		txt("Protects the copy on this device. It is not your care record password.", muted),
		old, n1, n2, btn, msg)
}

// confirmWipe asks the user to type WIPE before destroying local data.
func (u *UI) confirmWipe() {
	word := newEntry(u, "type "+wipeWord)
	var d dialog.Dialog
	wipe := u.button("Wipe this device", theme.DeleteIcon(), widget.DangerImportance, func() {
		if word.Text != wipeWord {
			return
		}
		d.Hide()
		u.wipe()
	})
	wipe.Disable()
	word.OnChanged = func(s string) {
		if s == wipeWord {
			wipe.Enable()
		} else {
			wipe.Disable()
		}
	}
	word.OnSubmitted = func(s string) {
		if s == wipeWord {
			d.Hide()
			u.wipe()
		}
	}
	cancel := u.button("Cancel", theme.CancelIcon(), widget.MediumImportance, func() { d.Hide() })
	content := container.NewVBox(
		block(colDanger, txt("This destroys every key and every patient summary on this device, and its enrolment. "+
			"Audit events not yet delivered are sent first if there is a connection (for up to 5 seconds); any left are lost. "+
			"You will need your care record password to enrol again.", style{col: colOnDanger, bold: true})),
		txt("Type "+wipeWord+" to confirm.", bold), word,
		container.NewHBox(layout.NewSpacer(), cancel, wipe))
	d = dialog.NewCustomWithoutButtons("Wipe local data", container.NewVScroll(content), u.win)
	d.Resize(fyne.NewSize(620, 400))
	d.Show()
	u.win.Canvas().Focus(word)
}

// wipe hides everything, destroys the local data, and returns to enrolment.
func (u *UI) wipe() {
	u.lockScreenNow()
	u.setContent(screenEnrol, container.NewCenter(nowrap(txt("Wiping local data…", heading))))
	u.background(func() {
		err := u.core.Wipe(wipeFlush)
		u.do(func() {
			msg := "This device's data was wiped."
			if err != nil {
				msg = "The wipe reported a problem: " + err.Error()
			}
			u.showEnrol(msg)
		})
	})
}

// byteSize formats a size in binary units.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// setThemeMode switches light, dark or the system's choice, and keeps it.
func (u *UI) setThemeMode(mode string) {
	u.theme = newTheme(mode, u.theme.scale)
	u.app.Preferences().SetString(prefTheme, u.theme.mode)
	u.app.Settings().SetTheme(u.theme)
}

// toggleDark flips between light and dark.
func (u *UI) toggleDark() {
	if u.theme.isDark(u.app) {
		u.setThemeMode(themeLight)
	} else {
		u.setThemeMode(themeDark)
	}
}

// scaleText makes text larger or smaller by delta.
func (u *UI) scaleText(delta float32) { u.setTextScale(u.theme.scale + delta) }

// setTextScale sets the text scale within its limits, and keeps it.
func (u *UI) setTextScale(s float32) {
	s = max(minTextScale, min(maxTextScale, s))
	u.theme = newTheme(u.theme.mode, s)
	u.app.Preferences().SetFloat(prefTextScale, float64(s))
	u.app.Settings().SetTheme(u.theme)
	if u.screen == screenSettings && !u.locked {
		u.showPage(screenSettings, u.settingsPage())
	}
}

// serverText is the address in use, and every node's when there are
// several.
func serverText(p core.Profile) string {
	if len(p.Servers) < 2 {
		return p.Server
	}
	all := p.Servers[0]
	for _, a := range p.Servers[1:] {
		all += ", " + a
	}
	return p.Server + " (nodes: " + all + ")"
}
