package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
)

// Colour names the screens use beyond Fyne's own. They are resolved by
// kmcrTheme, so they follow the light or dark variant like everything else.
const (
	colBanner      fyne.ThemeColorName = "kmcrBanner"      // patient banner background
	colOnBanner    fyne.ThemeColorName = "kmcrOnBanner"    // text on the banner
	colDanger      fyne.ThemeColorName = "kmcrDanger"      // DNACPR, emergency access: background
	colOnDanger    fyne.ThemeColorName = "kmcrOnDanger"    // text on colDanger
	colCaution     fyne.ThemeColorName = "kmcrCaution"     // safeguarding, stale, withheld: background
	colOnCaution   fyne.ThemeColorName = "kmcrOnCaution"   // text on colCaution
	colPanel       fyne.ThemeColorName = "kmcrPanel"       // section card background
	colPanelBorder fyne.ThemeColorName = "kmcrPanelBorder" // section card outline
	colMuted       fyne.ThemeColorName = "kmcrMuted"       // secondary text that must still be read
	colChartLine   fyne.ThemeColorName = "kmcrChartLine"   // clinician-measured trend
	colChartAlt    fyne.ThemeColorName = "kmcrChartAlt"    // patient-entered trend, second series
)

// Theme modes the user can choose in Settings.
const (
	themeSystem = "system"
	themeLight  = "light"
	themeDark   = "dark"
)

// Text scale limits: the smallest and largest the shortcuts and Settings
// allow, and the step of one key press.
const (
	minTextScale  = 0.8
	maxTextScale  = 2.0
	textScaleStep = 0.1
)

// kmcrTheme embeds Fyne's default theme and overrides only what the clinical
// setting needs: higher contrast colours (NHS identity blues, reds and
// ambers chosen for at least 4.5:1 against their text), larger text and
// padding for gloved hands, a forced light or dark variant, and a text
// scale the user controls.
type kmcrTheme struct {
	fyne.Theme
	mode  string  // themeSystem, themeLight or themeDark
	scale float32 // multiplies every text size
}

var _ fyne.Theme = (*kmcrTheme)(nil)

func newTheme(mode string, scale float32) *kmcrTheme {
	if scale < minTextScale || scale > maxTextScale {
		scale = 1
	}
	switch mode {
	case themeLight, themeDark:
	default:
		mode = themeSystem
	}
	return &kmcrTheme{Theme: theme.DefaultTheme(), mode: mode, scale: scale}
}

func rgb(hex uint32) color.NRGBA {
	return color.NRGBA{R: uint8(hex >> 16), G: uint8(hex >> 8), B: uint8(hex), A: 0xff}
}

func rgba(hex uint32, a uint8) color.NRGBA {
	c := rgb(hex)
	c.A = a
	return c
}

// Palettes. Light follows the NHS identity colours; dark keeps the same
// meanings with lighter tints so text stays above 7:1 on near-black.
var (
	lightColours = map[fyne.ThemeColorName]color.Color{
		theme.ColorNameBackground:          rgb(0xffffff),
		theme.ColorNameForeground:          rgb(0x000000),
		theme.ColorNamePrimary:             rgb(0x005eb8),
		theme.ColorNameForegroundOnPrimary: rgb(0xffffff),
		theme.ColorNameButton:              rgb(0xdde3e6),
		theme.ColorNameInputBackground:     rgb(0xffffff),
		theme.ColorNameInputBorder:         rgb(0x4c6272),
		theme.ColorNamePlaceHolder:         rgb(0x4c6272),
		theme.ColorNameDisabled:            rgb(0x6b7a85),
		theme.ColorNameError:               rgb(0xc0200f),
		theme.ColorNameForegroundOnError:   rgb(0xffffff),
		theme.ColorNameWarning:             rgb(0x8a4b00),
		theme.ColorNameForegroundOnWarning: rgb(0xffffff),
		theme.ColorNameSuccess:             rgb(0x00703c),
		theme.ColorNameForegroundOnSuccess: rgb(0xffffff),
		theme.ColorNameHyperlink:           rgb(0x004a94),
		theme.ColorNameSeparator:           rgb(0x8a9ba6),
		theme.ColorNameFocus:               rgba(0x005eb8, 0x70),
		theme.ColorNameSelection:           rgba(0x005eb8, 0x40),
		theme.ColorNameHover:               rgba(0x000000, 0x18),
		theme.ColorNameHeaderBackground:    rgb(0xe8edee),
		theme.ColorNameMenuBackground:      rgb(0xf0f4f5),
		theme.ColorNameOverlayBackground:   rgb(0xffffff),
		colBanner:                          rgb(0x003087),
		colOnBanner:                        rgb(0xffffff),
		colDanger:                          rgb(0xc0200f),
		colOnDanger:                        rgb(0xffffff),
		colCaution:                         rgb(0xffb81c),
		colOnCaution:                       rgb(0x000000),
		colPanel:                           rgb(0xf3f6f7),
		colPanelBorder:                     rgb(0xaeb7bd),
		colMuted:                           rgb(0x3b4a54),
		colChartLine:                       rgb(0x005eb8),
		colChartAlt:                        rgb(0x7c2855),
	}
	darkColours = map[fyne.ThemeColorName]color.Color{
		theme.ColorNameBackground:          rgb(0x0b0c0c),
		theme.ColorNameForeground:          rgb(0xffffff),
		theme.ColorNamePrimary:             rgb(0x41b6e6),
		theme.ColorNameForegroundOnPrimary: rgb(0x000000),
		theme.ColorNameButton:              rgb(0x2b3237),
		theme.ColorNameInputBackground:     rgb(0x161a1d),
		theme.ColorNameInputBorder:         rgb(0xaeb7bd),
		theme.ColorNamePlaceHolder:         rgb(0xaeb7bd),
		theme.ColorNameDisabled:            rgb(0x8a9499),
		theme.ColorNameError:               rgb(0xff8a7a),
		theme.ColorNameForegroundOnError:   rgb(0x000000),
		theme.ColorNameWarning:             rgb(0xffb81c),
		theme.ColorNameForegroundOnWarning: rgb(0x000000),
		theme.ColorNameSuccess:             rgb(0x78be20),
		theme.ColorNameForegroundOnSuccess: rgb(0x000000),
		theme.ColorNameHyperlink:           rgb(0x7fd0f0),
		theme.ColorNameSeparator:           rgb(0x5d6d78),
		theme.ColorNameFocus:               rgba(0x41b6e6, 0x80),
		theme.ColorNameSelection:           rgba(0x41b6e6, 0x55),
		theme.ColorNameHover:               rgba(0xffffff, 0x22),
		theme.ColorNameHeaderBackground:    rgb(0x1d2226),
		theme.ColorNameMenuBackground:      rgb(0x1d2226),
		theme.ColorNameOverlayBackground:   rgb(0x161a1d),
		colBanner:                          rgb(0x005eb8),
		colOnBanner:                        rgb(0xffffff),
		colDanger:                          rgb(0xd5281b),
		colOnDanger:                        rgb(0xffffff),
		colCaution:                         rgb(0xffb81c),
		colOnCaution:                       rgb(0x000000),
		colPanel:                           rgb(0x161a1d),
		colPanelBorder:                     rgb(0x4c6272),
		colMuted:                           rgb(0xd0d8dc),
		colChartLine:                       rgb(0x41b6e6),
		colChartAlt:                        rgb(0xf29fc5),
	}
)

// Color returns the palette's colour for the chosen variant, falling back
// to the default theme for names the palette leaves alone.
func (t *kmcrTheme) Color(n fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	switch t.mode {
	case themeLight:
		v = theme.VariantLight
	case themeDark:
		v = theme.VariantDark
	}
	p := lightColours
	if v == theme.VariantDark {
		p = darkColours
	}
	if c, ok := p[n]; ok {
		return c
	}
	return t.Theme.Color(n, v)
}

// Size enlarges text and touch targets: buttons are at least 48 px high at
// scale 1, which a gloved finger on a touch screen can hit.
func (t *kmcrTheme) Size(n fyne.ThemeSizeName) float32 {
	switch n {
	case theme.SizeNameText:
		return 16 * t.scale
	case theme.SizeNameHeadingText:
		return 26 * t.scale
	case theme.SizeNameSubHeadingText:
		return 20 * t.scale
	case theme.SizeNameCaptionText:
		return 14 * t.scale
	case theme.SizeNameInlineIcon:
		return 22 * t.scale
	case theme.SizeNamePadding:
		return 6
	case theme.SizeNameInnerPadding:
		return 14
	case theme.SizeNameInputBorder:
		return 2
	case theme.SizeNameScrollBar:
		return 16
	case theme.SizeNameScrollBarSmall:
		return 6
	case theme.SizeNameSeparatorThickness:
		return 1
	}
	return t.Theme.Size(n)
}

// isDark reports whether the theme currently paints dark.
func (t *kmcrTheme) isDark(a fyne.App) bool {
	switch t.mode {
	case themeLight:
		return false
	case themeDark:
		return true
	}
	return a.Settings().ThemeVariant() == theme.VariantDark
}

// compactTheme is the app's theme with less padding inside text, for
// dense reading areas (the summary, the banner, result rows, the status
// bar). Fyne insets every paragraph by the inner padding, which suits
// buttons but spreads text out. It asks the app for the current theme on
// every call, so it follows a change of variant or text size.
type compactTheme struct{}

// compactInnerPadding is the inset of text in dense areas.
const compactInnerPadding = 4

func (compactTheme) current() fyne.Theme { return fyne.CurrentApp().Settings().Theme() }

func (t compactTheme) Color(n fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	return t.current().Color(n, v)
}

func (t compactTheme) Font(s fyne.TextStyle) fyne.Resource { return t.current().Font(s) }

func (t compactTheme) Icon(n fyne.ThemeIconName) fyne.Resource { return t.current().Icon(n) }

func (t compactTheme) Size(n fyne.ThemeSizeName) float32 {
	if n == theme.SizeNameInnerPadding {
		return compactInnerPadding
	}
	return t.current().Size(n)
}

// compact draws o with compactTheme.
func compact(o fyne.CanvasObject) fyne.CanvasObject {
	return container.NewThemeOverride(o, compactTheme{})
}
