package ui

import (
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"

	"kmcr/record"
)

// onBanner is text on the banner's blue.
var (
	onBanner     = style{col: colOnBanner}
	onBannerBold = style{col: colOnBanner, bold: true}
	onBannerName = style{col: colOnBanner, size: theme.SizeNameHeadingText, bold: true}
)

// bannerFacts are the identifying facts the banner shows, as text, so a
// test can check each without reading widgets.
type bannerFacts struct {
	Name, Born, Gender, NHS, Address, Deceased string
}

// bannerOf formats the demographics the NHS Common User Interface way:
// "SMITH, Jane Ann (Mrs)", "12-Mar-1962 (64y)", "943 476 5919".
func bannerOf(d *record.Demographics, nhs record.NHSNumber, now time.Time) bannerFacts {
	f := bannerFacts{Name: d.Name.String(), Gender: titleCase(d.Gender), NHS: nhs.String()}
	if f.Name == "" {
		f.Name = "(no name recorded)"
	}
	if f.Gender == "" {
		f.Gender = "Not recorded"
	}
	if d.BirthDate.IsZero() {
		f.Born = "Not recorded"
	} else {
		end := now
		if d.Deceased && !d.DeceasedOn.IsZero() {
			end = d.DeceasedOn.Time
		}
		f.Born = fmt.Sprintf("%s (%dy)", d.BirthDate.String(), record.Age(d.BirthDate.Time, end))
	}
	switch {
	case d.Restricted:
		f.Address = "Withheld: restricted record"
	case d.Address.String() != "":
		f.Address = d.Address.String()
	default:
		f.Address = "No address recorded"
	}
	if d.Deceased {
		f.Deceased = "DECEASED"
		if !d.DeceasedOn.IsZero() {
			f.Deceased += " " + d.DeceasedOn.String()
		}
	}
	return f
}

// patientBanner is the strip at the top of every screen that shows a
// patient: name first and largest, then date of birth with age, gender and
// NHS number, then the address. It never scrolls away.
func patientBanner(f bannerFacts) fyne.CanvasObject {
	rows := []fyne.CanvasObject{
		line(span{f.Name, onBannerName}),
		line(span{"Born ", onBanner}, span{f.Born, onBannerBold},
			span{"     Gender ", onBanner}, span{f.Gender, onBannerBold},
			span{"     NHS No. ", onBanner}, span{f.NHS, onBannerBold}),
		line(span{"Address ", onBanner}, span{f.Address, onBannerBold}),
	}
	if f.Deceased != "" {
		rows = append(rows, block(colDanger, txt(f.Deceased, style{col: colOnDanger, bold: true})))
	}
	return compact(container.NewStack(newThemedRect(colBanner, "", 0), container.NewPadded(container.NewVBox(rows...))))
}
