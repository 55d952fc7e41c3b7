// Package assets holds the files bundled into kmcr: the application icon.
// The icon is drawn by internal/mkicon; run "go generate ./assets" after
// changing it.
package assets

import (
	_ "embed"

	"fyne.io/fyne/v2"
)

//go:generate go run ./internal/mkicon -o icon.png

//go:embed icon.png
var iconPNG []byte

// Icon is the application icon, 512x512 PNG, for windows and packages.
var Icon fyne.Resource = fyne.NewStaticResource("icon.png", iconPNG)
