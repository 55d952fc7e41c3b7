package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"

	"kmcr/present"
)

// onBanner is text on the banner's blue.
var (
	onBanner     = style{col: colOnBanner}
	onBannerBold = style{col: colOnBanner, bold: true}
	onBannerName = style{col: colOnBanner, size: theme.SizeNameHeadingText, bold: true}
)

// patientBanner is the strip at the top of every screen that shows a
// patient: name first and largest, then date of birth with age, gender and
// NHS number, then the address, and DECEASED when the patient has died.
// It never scrolls away. What it says is present.BannerOf's.
func patientBanner(f present.Banner) fyne.CanvasObject {
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
