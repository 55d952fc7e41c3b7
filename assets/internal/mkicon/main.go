// Command mkicon draws the kmcr application icon: a white medical cross
// inside a ring, on an NHS-blue rounded square. It needs no font or image
// file, so the icon can be remade from source: go generate ./assets
package main

import (
	"flag"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

// size is the icon's side in pixels; samples is the supersampling factor
// per axis that smooths the edges.
const (
	size    = 512
	samples = 4
)

var (
	blue  = color.NRGBA{0x00, 0x5e, 0xb8, 0xff}
	navy  = color.NRGBA{0x00, 0x30, 0x87, 0xff}
	white = color.NRGBA{0xff, 0xff, 0xff, 0xff}
)

// shade returns the colour at (x, y) in a 0..1 square, or transparent.
func shade(x, y float64) color.NRGBA {
	// Rounded square with a radius of 0.18.
	const r = 0.18
	dx := math.Max(math.Max(r-x, x-(1-r)), 0)
	dy := math.Max(math.Max(r-y, y-(1-r)), 0)
	if dx*dx+dy*dy > r*r {
		return color.NRGBA{}
	}
	cx, cy := x-0.5, y-0.5
	d := math.Hypot(cx, cy)
	// The cross: two bars 0.17 wide and 0.5 long.
	if (math.Abs(cx) < 0.085 && math.Abs(cy) < 0.25) || (math.Abs(cy) < 0.085 && math.Abs(cx) < 0.25) {
		return white
	}
	// A ring around it, open at the top right like a sync arrow.
	if d > 0.33 && d < 0.39 {
		a := math.Atan2(-cy, cx)
		if a < 0.35 || a > 1.25 {
			return white
		}
	}
	// Darker lower half for depth.
	if y > 0.5+0.5*x-0.25 {
		return navy
	}
	return blue
}

func main() {
	out := flag.String("o", "icon.png", "output PNG")
	flag.Parse()
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64
			for sy := 0; sy < samples; sy++ {
				for sx := 0; sx < samples; sx++ {
					c := shade((float64(px)+(float64(sx)+0.5)/samples)/size, (float64(py)+(float64(sy)+0.5)/samples)/size)
					fa := float64(c.A) / 255
					r, g, b, a = r+float64(c.R)*fa, g+float64(c.G)*fa, b+float64(c.B)*fa, a+fa
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{uint8(r / a), uint8(g / a), uint8(b / a), uint8(255 * a / (samples * samples))})
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(f, img); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
