package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// report collects figures and renders bench/RESULTS.md.
type report struct {
	scale    string
	date     time.Time
	sections []section
	failures []string
	runs     []string // each scenario's duration and the machine's load
}

type section struct {
	title string
	notes []string
	rows  []row
	// appendix holds evidence too long for a note (query plans), each
	// shown as a block of text after the notes.
	appendix []string
}

// row is one figure compared with its limit.
type row struct {
	What   string
	Value  float64
	Unit   string
	Limit  float64
	Better string // "higher" or "lower": which side of the limit passes
	Note   string
}

func (r row) met() bool {
	if r.Better == "higher" {
		return r.Value >= r.Limit
	}
	return r.Value <= r.Limit
}

func newReport(scale string) *report { return &report{scale: scale, date: time.Now()} }

func (r *report) add(s section) { r.sections = append(r.sections, s) }

// ran notes how long a scenario took and the machine's load around it.
func (r *report) ran(scenario string, took time.Duration, loadBefore, loadAfter string) {
	r.runs = append(r.runs, fmt.Sprintf("%s %v (load %s → %s)", scenario, took, loadBefore, loadAfter))
}

func (r *report) failed(scenario string, err error) {
	r.failures = append(r.failures, fmt.Sprintf("%s: %v", scenario, err))
}

func (r *report) markdown(machine string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmark results\n\n")
	fmt.Fprintf(&b, "Measured by `make bench` (scale **%s**) on %s.\n\n", r.scale, r.date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %s.\n\n", machine)
	if len(r.runs) > 0 {
		fmt.Fprintf(&b, "Scenarios run, with their duration and the machine's one-minute load average before → after: %s.\n\n", strings.Join(r.runs, "; "))
	}
	fmt.Fprintf(&b, "Each figure is compared with its limit; *ratio* is value ÷ limit. A goal that is not reached says so.\n\n")
	for _, s := range r.sections {
		fmt.Fprintf(&b, "## %s\n\n", s.title)
		fmt.Fprintf(&b, "| Figure | Value | Limit | Ratio | Goal |\n|---|---:|---:|---:|---|\n")
		for _, row := range s.rows {
			verdict := "met"
			if !row.met() {
				verdict = "**not met**"
			}
			cmp := "≤"
			if row.Better == "higher" {
				cmp = "≥"
			}
			ratio := "–"
			if row.Limit != 0 {
				ratio = fmt.Sprintf("%.2f", row.Value/row.Limit)
			}
			what := row.What
			if row.Note != "" {
				what += " (" + row.Note + ")"
			}
			fmt.Fprintf(&b, "| %s | %s %s | %s %s %s | %s | %s |\n", what, num(row.Value), row.Unit, cmp, num(row.Limit), row.Unit, ratio, verdict)
		}
		b.WriteString("\n")
		for _, n := range s.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		if len(s.notes) > 0 {
			b.WriteString("\n")
		}
		if len(s.appendix) > 0 {
			b.WriteString("<details><summary>Full plans</summary>\n\n")
			for _, a := range s.appendix {
				fmt.Fprintf(&b, "```text\n%s\n```\n\n", strings.TrimRight(a, "\n"))
			}
			b.WriteString("</details>\n\n")
		}
	}
	if len(r.failures) > 0 {
		b.WriteString("## Scenarios that did not complete\n\n")
		for _, f := range slices.Sorted(slices.Values(r.failures)) {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	return b.String()
}

func num(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e9:
		return fmt.Sprintf("%d", int64(v))
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// percentile of sorted durations, in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i]) / float64(time.Millisecond)
}
