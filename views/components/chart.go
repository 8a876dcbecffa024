package components

import (
	"fmt"
	"strconv"
)

// StackedBarsProps is a server-rendered SVG bar chart with stacked series
// (e.g. cost per day by line item) and the same figures as a table for
// screen readers and copying. Everything is precomputed: geometry in SVG
// user units, labels already formatted.
type StackedBarsProps struct {
	ID      string // element id prefix; also data-testid
	Title   string
	Summary string // one sentence describing the chart, read by screen readers
	Width   int
	Height  int
	Bars    []ChartBar
	Series  []ChartSeries
	// YLabel is the value of the top gridline ("$12.50").
	YLabel string
	// Table is the data behind the chart.
	TableHead []string
	TableRows [][]string
	// Empty is shown instead of the chart when there is nothing to draw.
	Empty string
}

// ChartSeries is one stacked series (its legend entry).
type ChartSeries struct {
	Name  string
	Color string // an SVG fill, from ChartColor
}

// ChartBar is one bar (one day).
type ChartBar struct {
	X, W     string
	Label    string // x-axis label, "" for none
	LabelX   string
	Segments []ChartSegment
}

// ChartSegment is one series' part of a bar.
type ChartSegment struct {
	Y, H  string
	Color string
	Title string // tooltip: "2026-11-03 · gpt-4o input: $1.23"
}

// chartPalette are fills that stay apart for common colour blindness
// (Okabe–Ito), used in order.
var chartPalette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"}

// ChartColor is the fill of the i-th series.
func ChartColor(i int) string { return chartPalette[i%len(chartPalette)] }

// Plot area of the chart, in user units.
const (
	ChartLeft   = 8
	ChartTop    = 16
	ChartBottom = 24 // room for the x labels
)

// F formats a coordinate.
func F(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func viewBox(w, h int) string { return fmt.Sprintf("0 0 %d %d", w, h) }

// Count formats a whole number for people: 12345 → "12,345".
func Count(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + Count(-n)
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
