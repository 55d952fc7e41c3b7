package ui

import (
	"image/color"
	"math"
	"strconv"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"kmcr/present"
)

// chartPoint is one reading.
type chartPoint struct {
	at time.Time
	v  float64
}

// chartSeries is one line of a trend, oldest point first.
type chartSeries struct {
	name string
	col  fyne.ThemeColorName
	pts  []chartPoint
}

// seriesOf maps a presented trend's lines to chart lines.
func seriesOf(t *present.Trend) []chartSeries {
	out := make([]chartSeries, len(t.Series))
	for i, s := range t.Series {
		out[i] = chartSeries{name: s.Name, col: toneColour(s.Tone)}
		for _, p := range s.Points {
			out[i].pts = append(out[i].pts, chartPoint{p.At, p.Value})
		}
	}
	return out
}

// trendChart draws a small line chart with canvas lines and dots: the
// readings over time, the highest and lowest values labelled, and the
// first and last dates under it. It adds no dependency and scales with the
// theme's text size.
type trendChart struct {
	widget.BaseWidget
	series []chartSeries
	unit   string
}

// chartHeight is the plot's height at text scale 1.
const chartHeight = 72

func newTrendChart(t *present.Trend) *trendChart {
	c := &trendChart{series: seriesOf(t), unit: t.Unit}
	c.ExtendBaseWidget(c)
	return c
}

// bounds returns the time and value ranges of every series.
func (c *trendChart) bounds() (t0, t1 time.Time, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range c.series {
		for _, p := range s.pts {
			if t0.IsZero() || p.at.Before(t0) {
				t0 = p.at
			}
			if p.at.After(t1) {
				t1 = p.at
			}
			lo, hi = math.Min(lo, p.v), math.Max(hi, p.v)
		}
	}
	return
}

func (c *trendChart) CreateRenderer() fyne.WidgetRenderer {
	r := &chartRenderer{c: c, frame: canvas.NewRectangle(color.Transparent)}
	for _, s := range c.series {
		var lines []*canvas.Line
		var dots []*canvas.Circle
		for i := range s.pts {
			if i > 0 {
				lines = append(lines, canvas.NewLine(color.Black))
			}
			dots = append(dots, canvas.NewCircle(color.Black))
		}
		r.lines = append(r.lines, lines)
		r.dots = append(r.dots, dots)
	}
	r.hiText, r.loText = canvas.NewText("", color.Black), canvas.NewText("", color.Black)
	r.t0Text, r.t1Text = canvas.NewText("", color.Black), canvas.NewText("", color.Black)
	r.t1Text.Alignment = fyne.TextAlignTrailing
	r.Refresh()
	return r
}

type chartRenderer struct {
	c              *trendChart
	frame          *canvas.Rectangle
	lines          [][]*canvas.Line
	dots           [][]*canvas.Circle
	hiText, loText *canvas.Text
	t0Text, t1Text *canvas.Text
}

func (r *chartRenderer) textSize() float32 {
	return theme.SizeForWidget(theme.SizeNameCaptionText, r.c)
}

func (r *chartRenderer) MinSize() fyne.Size {
	ts := r.textSize()
	return fyne.NewSize(220, chartHeight*ts/14+ts*1.6)
}

func (r *chartRenderer) Objects() []fyne.CanvasObject {
	objs := []fyne.CanvasObject{r.frame}
	for i := range r.lines {
		for _, l := range r.lines[i] {
			objs = append(objs, l)
		}
		for _, d := range r.dots[i] {
			objs = append(objs, d)
		}
	}
	return append(objs, r.hiText, r.loText, r.t0Text, r.t1Text)
}

func (r *chartRenderer) Destroy() {}

// Layout maps time to x and value to y inside a frame that leaves room for
// the value labels on the left and the dates below.
func (r *chartRenderer) Layout(size fyne.Size) {
	ts := r.textSize()
	labelW := fyne.MeasureText(r.hiText.Text+"  ", ts, fyne.TextStyle{}).Width
	labelW = max(labelW, fyne.MeasureText(r.loText.Text+"  ", ts, fyne.TextStyle{}).Width)
	plotX, plotY := labelW, float32(4)
	plotW, plotH := size.Width-labelW-6, size.Height-ts*1.6-8
	r.frame.Move(fyne.NewPos(plotX, plotY))
	r.frame.Resize(fyne.NewSize(plotW, plotH))
	t0, t1, lo, hi := r.c.bounds()
	span := t1.Sub(t0).Seconds()
	vr := hi - lo
	if vr == 0 {
		vr = math.Max(math.Abs(hi)*0.1, 1)
		lo -= vr / 2
	}
	pos := func(p chartPoint) fyne.Position {
		x := plotX + plotW/2
		if span > 0 {
			x = plotX + 6 + float32(p.at.Sub(t0).Seconds()/span)*(plotW-12)
		}
		y := plotY + 6 + (plotH-12)*(1-float32((p.v-lo)/vr))
		return fyne.NewPos(x, y)
	}
	dot := ts * 0.45
	for i, s := range r.c.series {
		for j, p := range s.pts {
			at := pos(p)
			if j > 0 {
				r.lines[i][j-1].Position1 = pos(s.pts[j-1])
				r.lines[i][j-1].Position2 = at
			}
			d := r.dots[i][j]
			d.Position1 = fyne.NewPos(at.X-dot, at.Y-dot)
			d.Position2 = fyne.NewPos(at.X+dot, at.Y+dot)
		}
	}
	r.hiText.Move(fyne.NewPos(0, plotY))
	r.loText.Move(fyne.NewPos(0, plotY+plotH-ts*1.3))
	r.t0Text.Move(fyne.NewPos(plotX, plotY+plotH+2))
	r.t1Text.Move(fyne.NewPos(plotX+plotW, plotY+plotH+2))
}

func fmtValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e6 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// Refresh takes colours and sizes from the theme.
func (r *chartRenderer) Refresh() {
	fg := theme.ColorForWidget(theme.ColorNameForeground, r.c)
	border := theme.ColorForWidget(colPanelBorder, r.c)
	r.frame.StrokeColor, r.frame.StrokeWidth = border, 1
	r.frame.FillColor = theme.ColorForWidget(theme.ColorNameInputBackground, r.c)
	for i, s := range r.c.series {
		col := theme.ColorForWidget(s.col, r.c)
		for _, l := range r.lines[i] {
			l.StrokeColor, l.StrokeWidth = col, 2.5
		}
		for _, d := range r.dots[i] {
			d.FillColor = col
		}
	}
	t0, t1, lo, hi := r.c.bounds()
	ts := r.textSize()
	for _, t := range []*canvas.Text{r.hiText, r.loText, r.t0Text, r.t1Text} {
		t.Color, t.TextSize = fg, ts
	}
	r.hiText.Text, r.loText.Text = fmtValue(hi), fmtValue(lo)
	if hi == lo {
		r.loText.Text = "" // one value: one label
	}
	r.t0Text.Text, r.t1Text.Text = t0.Format(dateLayout), t1.Format(dateLayout)
	r.Layout(r.c.Size())
	canvas.Refresh(r.c)
}
