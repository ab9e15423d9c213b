package viz

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	plottext "gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"zoomtrain/internal/metrics"
)

// Sizes of the rendered plots in pixels.
const (
	curvesW, curvesH   = 1100, 760
	compareW, compareH = 900, 560
	plotDPI            = 96
)

// series is one named curve; NaN values are gaps (a measurement not taken that epoch).
type series struct {
	name string
	get  func(metrics.Record) float64
}

// byEpoch orders records by epoch and keeps the last record of each epoch, which is the
// one a resumed run wrote after redoing it.
func byEpoch(records []metrics.Record) []metrics.Record {
	rs := slices.Clone(records)
	slices.SortStableFunc(rs, func(a, b metrics.Record) int { return a.Epoch - b.Epoch })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].Epoch == r.Epoch {
			out[n-1] = r
			continue
		}
		out = append(out, r)
	}
	return out
}

// points collects the finite values of one series.
func points(rs []metrics.Record, get func(metrics.Record) float64) plotter.XYs {
	var xy plotter.XYs
	for _, r := range rs {
		if v := get(r); !math.IsNaN(v) && !math.IsInf(v, 0) {
			xy = append(xy, plotter.XY{X: float64(r.Epoch), Y: v})
		}
	}
	return xy
}

// lineColours is the number of colours palette cycles through.
const lineColours = 7

// palette is line i's colour: the Okabe and Ito colour-blind-safe set without its
// yellow, which is faint on white. A colour that resembles another (the two blues,
// vermillion and orange) stands at an index of the other parity, so it is drawn with
// the other dashes.
func palette(i int) color.Color {
	p := [lineColours]color.NRGBA{
		{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
		{230, 159, 0, 255}, {86, 180, 233, 255}, {0, 0, 0, 255},
	}
	return p[i%lineColours]
}

// lineStyle is how line i is told apart from the others: its colour; one of four
// markers in turn; solid or dashed by turns, and once the colours are used up dotted or
// dash-dot. Colour and marker differ for the first 28 lines, colour and dashes for the
// first 14, and the lines of alike colours differ in all three.
func lineStyle(i int) (draw.LineStyle, draw.GlyphDrawer) {
	dashes := [...][]vg.Length{
		nil, // solid
		{vg.Points(5), vg.Points(2.5)},
		{vg.Points(1.5), vg.Points(2)},
		{vg.Points(6), vg.Points(2), vg.Points(1.5), vg.Points(2)},
	}
	glyphs := [...]draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.PlusGlyph{}}
	round := i / lineColours
	return draw.LineStyle{
		Color:  palette(i),
		Width:  vg.Points(1.5),
		Dashes: dashes[(i%2+2*round)%len(dashes)],
	}, glyphs[i%len(glyphs)]
}

// addLine adds xy to p as line i (see lineStyle), with markers when there are few
// points (so that a single epoch still shows), and a legend entry.
func addLine(p *plot.Plot, name string, xy plotter.XYs, i int) error {
	l, s, err := plotter.NewLinePoints(xy)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	l.LineStyle, s.Shape = lineStyle(i)
	s.Color = l.Color
	s.Radius = vg.Points(2.5)
	if len(xy) <= 30 {
		p.Add(l, s)
		p.Legend.Add(name, l, s)
	} else {
		p.Add(l)
		p.Legend.Add(name, l)
	}
	return nil
}

// addMissing adds a legend entry in line i's style for a run without data, so that the
// legend stays honest about which runs are missing.
func addMissing(p *plot.Plot, name string, i int) {
	ls, _ := lineStyle(i)
	p.Legend.Add(name+" (no data)", &plotter.Line{LineStyle: ls})
}

// newPlot returns a plot whose text is sans-serif, which reads better at screen size
// than the default serif; set per plot, since the package default is shared state.
func newPlot() *plot.Plot {
	p := plot.New()
	for _, sty := range []*plottext.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle,
		&p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		sty.Font.Variant = "Sans"
	}
	// Wide enough to show a dash-dot pattern whole.
	p.Legend.ThumbnailWidth = vg.Points(28)
	return p
}

// integerTicks labels whole epochs at a round step (1, 2, 5, 10, 20, ...) giving at most
// about eight labels, with unlabelled minor ticks between them.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) || hi < lo {
		return nil
	}
	step := 1.0
	for (hi-lo)/step > 8 {
		switch m := step / math.Pow(10, math.Floor(math.Log10(step))); m {
		case 1:
			step *= 2
		case 2:
			step *= 2.5
		default:
			step *= 2
		}
	}
	minor := step / 5
	if step <= 2 {
		minor = 0
	} else if step == 5 {
		minor = 1
	}
	var out []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	if minor > 0 {
		for v := math.Ceil(lo/minor) * minor; v <= hi; v += minor {
			if math.Mod(v, step) != 0 {
				out = append(out, plot.Tick{Value: v})
			}
		}
	}
	return out
}

// panelPlot makes one titled plot of some series over epochs. It reports whether any
// series had a point.
func panelPlot(rs []metrics.Record, title, ylabel string, scale float64, ss []series) (*plot.Plot, bool, error) {
	p := newPlot()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = ylabel
	p.X.Tick.Marker = integerTicks{}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	hasData := false
	for i, s := range ss {
		xy := points(rs, func(r metrics.Record) float64 { return scale * s.get(r) })
		if len(xy) == 0 {
			continue
		}
		hasData = true
		if err := addLine(p, s.name, xy, i); err != nil {
			return nil, false, err
		}
	}
	if !hasData {
		p.Title.Text += " (no data)"
	}
	return p, hasData, nil
}

// useLogY switches p to a logarithmic y axis when every value is positive and they span
// more than a factor of 20, as learning rates under a decay schedule do.
func useLogY(p *plot.Plot, rs []metrics.Record, ss []series) bool {
	lo, hi := seriesRange(rs, ss)
	if !(lo > 0 && hi/lo >= 20) { // also false when there are no points
		return false
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	// Fixed limits: the log scale cannot take gonum's padding of a zero-width range.
	p.Y.Min, p.Y.Max = lo/1.5, hi*1.5
	return true
}

// fromZero gives a non-negative quantity a y axis from 0 to a little above its largest
// value (at least minTop), so that a constant learning rate or a blur that stays at
// zero is drawn as a level line on a readable axis rather than gonum's padding of a
// zero-width range around it.
func fromZero(p *plot.Plot, rs []metrics.Record, ss []series, minTop float64) {
	lo, hi := seriesRange(rs, ss)
	if math.IsInf(lo, 1) || lo < 0 {
		return
	}
	p.Y.Min, p.Y.Max = 0, math.Max(hi*1.25, minTop)
	if p.Y.Max == 0 {
		p.Y.Max = 1
	}
}

// legendBand is the fraction of a plot's height kept free at the top for the legend.
const legendBand = 0.22

// legendRoom raises the top of p's y axis so that the legend, in the top band, covers
// no point of the series. scale is what panelPlot multiplied the values by.
func legendRoom(p *plot.Plot, rs []metrics.Record, ss []series, scale float64) {
	lo, hi := seriesRange(rs, ss)
	if math.IsInf(lo, 1) {
		return
	}
	lo, hi = lo*scale, hi*scale
	if hi-lo < 1e-9*math.Max(1, math.Abs(hi)) {
		lo, hi = lo-0.05*math.Max(math.Abs(lo), 1e-3), hi+0.05*math.Max(math.Abs(hi), 1e-3)
	}
	p.Y.Min, p.Y.Max = lo, hi+(hi-lo)*legendBand/(1-legendBand)
	p.Y.Tick.Marker = distinctTicks{plot.DefaultTicks{}}
	p.Legend.Top = true
}

// constant reports whether every point of s has one value, and which.
func constant(rs []metrics.Record, s series) (float64, bool) {
	first, seen := 0.0, false
	for _, xy := range points(rs, s.get) {
		if !seen {
			first, seen = xy.Y, true
		} else if xy.Y != first {
			return 0, false
		}
	}
	return first, seen
}

// distinctTicks labels the ticks of its Ticker with as many digits as it takes for
// neighbouring labels to differ: a short run's loss axis spans 2.28 to 2.31, which
// the default labels as "2.3, 2.3, 2.3".
type distinctTicks struct{ plot.Ticker }

func (d distinctTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := d.Ticker.Ticks(lo, hi)
	label := func(prec int) func(plot.Tick) string {
		if prec == 0 {
			return func(t plot.Tick) string { return t.Label } // the Ticker's own
		}
		return func(t plot.Tick) string { return strconv.FormatFloat(t.Value, 'g', prec, 64) }
	}
	for prec := 0; prec <= 8; prec++ {
		if prec == 1 {
			continue // one digit would round the Ticker's labels
		}
		f := label(prec)
		seen, clash := map[string]bool{}, false
		for _, t := range ts {
			if t.Label != "" {
				clash = clash || seen[f(t)]
				seen[f(t)] = true
			}
		}
		if !clash {
			for i := range ts {
				if ts[i].Label != "" {
					ts[i].Label = f(ts[i])
				}
			}
			break
		}
	}
	return ts
}

// cappedTicks drops the ticks of its Ticker above max.
type cappedTicks struct {
	plot.Ticker
	max float64
}

func (c cappedTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range c.Ticker.Ticks(lo, math.Min(hi, c.max)) {
		if t.Value <= c.max {
			out = append(out, t)
		}
	}
	return out
}

func seriesRange(rs []metrics.Record, ss []series) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, xy := range points(rs, s.get) {
			lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
		}
	}
	return lo, hi
}

// render draws plots as rows x cols under an optional title and encodes a PNG. gonum
// panics on some degenerate inputs; that comes back as an error, not a crash.
func render(grid [][]*plot.Plot, title string, wPx, hPx int) (png []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("render plot: %v", r)
		}
	}()
	px := func(n int) vg.Length { return vg.Length(n) * vg.Inch / plotDPI }
	c := vgimg.NewWith(vgimg.UseWH(px(wPx), px(hPx)), vgimg.UseDPI(plotDPI),
		vgimg.UseBackgroundColor(color.White))
	dc := draw.New(c)
	if title != "" {
		p := newPlot() // borrow the title style and font
		sty := p.Title.TextStyle
		sty.Font.Size = vg.Points(15)
		sty.XAlign = draw.XCenter
		sty.YAlign = draw.YTop
		top := dc.Max.Y - vg.Points(6)
		dc.FillText(sty, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: top}, title)
		dc.Max.Y = top - sty.Height(title) - vg.Points(6)
	}
	tiles := draw.Tiles{Rows: len(grid), Cols: len(grid[0]),
		PadX: vg.Points(18), PadY: vg.Points(14),
		PadTop: vg.Points(4), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12)}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j := range grid[i] {
			if grid[i][j] != nil {
				grid[i][j].Draw(canvases[i][j])
			}
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode plot: %w", err)
	}
	return buf.Bytes(), nil
}

// Curves plots a run's metrics per epoch as a PNG: loss (train and val) and accuracy
// (train, val top-1 and top-5, in percent) on top; the blur schedule's sigma and the
// learning rates (log scale when they span decades) below, each only when it changes
// during the run (a constant one is named in the title instead). The loss and
// accuracy axes keep a band at the top free for the legend. Missing (NaN) values are
// left out; a quantity never measured leaves its plot marked "no data".
func Curves(records []metrics.Record, title string) ([]byte, error) {
	if len(records) == 0 {
		return nil, errors.New("curves: no records")
	}
	rs := byEpoch(records)
	lr := func(k string) func(metrics.Record) float64 {
		return func(r metrics.Record) float64 {
			if v, ok := r.LR[k]; ok {
				return v
			}
			return math.NaN()
		}
	}
	lossS := []series{
		{"train", func(r metrics.Record) float64 { return r.TrainLoss }},
		{"val", func(r metrics.Record) float64 { return r.ValLoss }},
	}
	accS := []series{
		{"train", func(r metrics.Record) float64 { return r.TrainAcc }},
		{"val top-1", func(r metrics.Record) float64 { return r.ValTop1 }},
		{"val top-5", func(r metrics.Record) float64 { return r.ValTop5 }},
	}
	blurS := []series{{"blur sigma", func(r metrics.Record) float64 { return r.BlurSigma }}}
	lrS := []series{{"task", lr("task")}, {"saliency", lr("saliency")}}

	lossLabel := "cross-entropy"
	if regression(rs) {
		lossLabel = "on standardised targets"
	}
	loss, _, err := panelPlot(rs, "loss", lossLabel, 1, lossS)
	if err != nil {
		return nil, fmt.Errorf("curves: %w", err)
	}
	var acc *plot.Plot
	var hasAcc bool
	if regression(rs) {
		// The regression measure in the accuracy's place: errors in the targets' units.
		if acc, _, err = panelPlot(rs, "error", "targets' units", 1, regressionS); err != nil {
			return nil, fmt.Errorf("curves: %w", err)
		}
		legendRoom(acc, rs, regressionS, 1)
	} else {
		if acc, hasAcc, err = panelPlot(rs, "accuracy", "%", 100, accS); err != nil {
			return nil, fmt.Errorf("curves: %w", err)
		}
		if hasAcc {
			acc.Y.Min, acc.Y.Max = 0, 100
			acc.Legend.Top, acc.Legend.Left = false, false
		}
	}
	blur, _, err := panelPlot(rs, "blur schedule", "sigma (pixels)", 1, blurS)
	if err != nil {
		return nil, fmt.Errorf("curves: %w", err)
	}
	lrs, _, err := panelPlot(rs, "learning rate", "lr", 1, lrS)
	if err != nil {
		return nil, fmt.Errorf("curves: %w", err)
	}
	if !useLogY(lrs, rs, lrS) {
		fromZero(lrs, rs, lrS, 0)
	}
	fromZero(blur, rs, blurS, 1)
	legendRoom(loss, rs, lossS, 1)
	if hasAcc {
		// Room above 100% for the legend, with no ticks there.
		acc.Y.Max = 100 / (1 - legendBand)
		acc.Y.Tick.Marker = cappedTicks{plot.DefaultTicks{}, 100}
		acc.Legend.Top, acc.Legend.Left = true, true
	}
	// A constant blur or learning rate gets no panel of its own: its value goes into
	// the title instead.
	var lower []*plot.Plot
	var constants []string
	if v, ok := constant(rs, blurS[0]); ok {
		constants = append(constants, fmt.Sprintf("blur sigma %.3g", v))
	} else {
		lower = append(lower, blur)
	}
	task, okTask := constant(rs, lrS[0])
	sal, okSal := constant(rs, lrS[1])
	switch {
	case okTask && okSal && task == sal:
		constants = append(constants, fmt.Sprintf("lr %.3g", task))
	case okTask && okSal:
		constants = append(constants, fmt.Sprintf("lr task %.3g, saliency %.3g", task, sal))
	case okTask && len(points(rs, lrS[1].get)) == 0:
		constants = append(constants, fmt.Sprintf("lr %.3g", task))
	default:
		lower = append(lower, lrs)
	}
	if len(constants) > 0 {
		if title != "" {
			title += ": "
		}
		title += strings.Join(constants, ", ") + " throughout"
	}
	grid, h := [][]*plot.Plot{{loss, acc}}, curvesH/2+20
	switch len(lower) {
	case 1:
		grid, h = append(grid, []*plot.Plot{lower[0], nil}), curvesH
	case 2:
		grid, h = append(grid, lower), curvesH
	}
	png, err := render(grid, title, curvesW, h)
	if err != nil {
		return nil, fmt.Errorf("curves: %w", err)
	}
	return png, nil
}

// regressionS are a regression run's error curves.
var regressionS = []series{
	{"train MAE", regressionValue(func(e *metrics.RegressionErrors) float64 { return e.TrainMAE })},
	{"val MAE", regressionValue(func(e *metrics.RegressionErrors) float64 { return e.ValMAE })},
	{"val RMSE", regressionValue(func(e *metrics.RegressionErrors) float64 { return e.ValRMSE })},
}

func regressionValue(get func(*metrics.RegressionErrors) float64) func(metrics.Record) float64 {
	return func(r metrics.Record) float64 {
		if r.Regression == nil {
			return math.NaN()
		}
		return get(r.Regression)
	}
}

// regression reports whether records are a regression run's: any of them has errors.
func regression(rs []metrics.Record) bool {
	for _, r := range rs {
		if r.Regression != nil {
			return true
		}
	}
	return false
}

// Run is one training run's records under the name shown in a legend.
type Run struct {
	Name    string
	Records []metrics.Record
}

// CompareRuns plots the validation top-1 accuracy of several runs on one set of axes,
// best value in the legend, so that a saliency model and its uniform baseline can be
// told apart at a glance; for regression runs (all of them) it plots the validation
// MAE, lowest in the legend. A run without validation results is listed as "no data".
func CompareRuns(runs []Run) ([]byte, error) {
	if len(runs) == 0 {
		return nil, errors.New("compare runs: no runs")
	}
	reg := 0
	for _, run := range runs {
		if regression(run.Records) {
			reg++
		}
	}
	switch {
	case reg == len(runs):
		return compareMAE(runs)
	case reg > 0:
		return nil, errors.New("compare runs: regression and classification runs have no common measure")
	}
	p := newPlot()
	p.Title.Text = "validation top-1 accuracy"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "%"
	p.X.Tick.Marker = integerTicks{}
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = false, false
	seen := map[string]bool{}
	hasData := false
	for i, run := range runs {
		if run.Name == "" {
			return nil, fmt.Errorf("compare runs: run %d has no name", i)
		}
		if seen[run.Name] {
			return nil, fmt.Errorf("compare runs: run name %q repeated", run.Name)
		}
		seen[run.Name] = true
		xy := points(byEpoch(run.Records), func(r metrics.Record) float64 { return 100 * r.ValTop1 })
		if len(xy) == 0 {
			addMissing(p, run.Name, i)
			continue
		}
		hasData = true
		best := xy[0].Y
		for _, v := range xy {
			best = math.Max(best, v.Y)
		}
		if err := addLine(p, fmt.Sprintf("%s (best %.1f%%)", run.Name, best), xy, i); err != nil {
			return nil, fmt.Errorf("compare runs: %w", err)
		}
	}
	if !hasData {
		return nil, errors.New("compare runs: no run has validation top-1 results")
	}
	p.Y.Min, p.Y.Max = 0, 100
	png, err := render([][]*plot.Plot{{p}}, "", compareW, compareH)
	if err != nil {
		return nil, fmt.Errorf("compare runs: %w", err)
	}
	return png, nil
}

// compareMAE is CompareRuns for regression runs: val MAE per epoch, lowest in the legend.
func compareMAE(runs []Run) ([]byte, error) {
	p := newPlot()
	p.Title.Text = "validation mean absolute error"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "MAE (targets' units)"
	p.X.Tick.Marker = integerTicks{}
	p.Add(plotter.NewGrid())
	seen := map[string]bool{}
	val := regressionS[1].get
	for i, run := range runs {
		if run.Name == "" {
			return nil, fmt.Errorf("compare runs: run %d has no name", i)
		}
		if seen[run.Name] {
			return nil, fmt.Errorf("compare runs: run name %q repeated", run.Name)
		}
		seen[run.Name] = true
		xy := points(byEpoch(run.Records), val)
		if len(xy) == 0 {
			addMissing(p, run.Name, i)
			continue
		}
		best := xy[0].Y
		for _, v := range xy {
			best = math.Min(best, v.Y)
		}
		if err := addLine(p, fmt.Sprintf("%s (best %.4f)", run.Name, best), xy, i); err != nil {
			return nil, fmt.Errorf("compare runs: %w", err)
		}
	}
	p.Y.Min = 0
	png, err := render([][]*plot.Plot{{p}}, "", compareW, compareH)
	if err != nil {
		return nil, fmt.Errorf("compare runs: %w", err)
	}
	return png, nil
}
