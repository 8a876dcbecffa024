package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// Memory goals: the server's peak RSS, and how much more a backfill of ten
// times the companies may take ("flat": the backfill streams its companies).
const (
	memoryLimit  = 150.0 // MB
	memoryGrowth = 1.2
)

// memoryScenario reports the server's peak RSS during the list and
// backfill scenarios (when they ran), then backfills a tenth of
// MemoryBackfill companies and MemoryBackfill companies, each in a fresh
// server with the fake at zero latency, and compares their peaks.
func (b *bench) memoryScenario(ctx context.Context) error {
	large := b.sizes.MemoryBackfill
	sizes := []int{large / 10, large}
	peaks, lives, rates := make([]float64, len(sizes)), make([]float64, len(sizes)), make([]float64, len(sizes))
	var quarters []string
	for i, n := range sizes {
		fake := openaitest.New(openaitest.Options{AdminKey: benchKey})
		res, err := b.backfillRun(ctx, fmt.Sprintf("memory%d", n), n, fake, govState{})
		fake.Close()
		if err != nil {
			return err
		}
		if res.duplicates > 0 || res.missing > 0 {
			return fmt.Errorf("backfill of %d companies: %d duplicates, %d companies without a project", n, res.duplicates, res.missing)
		}
		peaks[i], lives[i], rates[i] = res.peakRSS, res.peakLive, float64(n)/res.runTime.Seconds()
		quarters = append(quarters, fmt.Sprintf("%s companies: RSS %s MB and live heap %s MB after 25/50/75/100 %%; Go heap in use at most %.1f MB, of which at most %.1f MB live (%.0f companies/s)",
			groupThousands(n), joinMB(res.rssAt, "%.0f"), joinMB(res.liveAt, "%.1f"), res.peakHeap, res.peakLive, float64(n)/res.runTime.Seconds()))
		b.logf("memory: backfill of %d companies: server peak RSS %.1f MB", n, res.peakRSS)
	}

	sec := section{title: "4. Memory (server peak RSS)"}
	for _, s := range []struct{ key, what string }{
		{"list", "During scenario 2 (company list)"},
		{"backfill", "During scenario 3 (rate-limited backfill)"},
	} {
		if v, ok := b.peakRSS[s.key]; ok {
			sec.rows = append(sec.rows, row{What: s.what, Value: v, Unit: "MB", Limit: memoryLimit, Better: "lower"})
		}
	}
	for i, n := range sizes {
		sec.rows = append(sec.rows, row{What: fmt.Sprintf("Backfill of %s companies", groupThousands(n)), Value: peaks[i], Unit: "MB", Limit: memoryLimit, Better: "lower"})
	}
	sec.rows = append(sec.rows, row{What: fmt.Sprintf("Growth from %s to %s companies", groupThousands(sizes[0]), groupThousands(sizes[1])),
		Value: peaks[1] / peaks[0], Unit: "×", Limit: memoryGrowth, Better: "lower", Note: "flat: ten times the companies, at most 20 % more memory"})
	sec.notes = []string{
		"Peak RSS is the server process's VmHWM (/proc/<pid>/status): the most resident memory it ever had, not a sample. The kernel updates that mark lazily, so the bench reads it every 100 ms while the server runs and keeps the highest value.",
		"Scenarios 2 and 3 each run one `provisioner serve`; scenario 3's backfill runs inside it (started through the API), so its peak includes the backfill.",
		fmt.Sprintf("Backfills: companies without a project loaded with COPY into a fresh database, a fresh server each (BACKFILL_CONCURRENCY=%d), the fake OpenAI at zero latency and without a rate limit; the server's peak RSS and its live heap as the run went, and from its /metrics read each second the most Go heap in use and the most that survived a garbage collection (half of go_memstats_next_gc_bytes; at least 2 MB, Go's smallest heap goal): %s. The live heap is what the server keeps, its garbage aside.",
			backfillConcurrency, strings.Join(quarters, "; ")),
	}
	sec.notes = append(sec.notes, fmt.Sprintf("From %s to %s companies the peak RSS grew %.1f MB and the live heap %.1f MB, while the longer run also reached a higher rate (%.0f against %.0f companies/s: the rate governor's rate climbs for longer) and so made more garbage between collections. The backfill reads its companies in keyset batches of 500 (ListBackfillCompanies), never all at once.",
		groupThousands(sizes[0]), groupThousands(sizes[1]), peaks[1]-peaks[0], lives[1]-lives[0], rates[1], rates[0]))
	if _, ok := b.peakRSS["list"]; !ok {
		sec.notes = append(sec.notes, "Scenario 2 did not run in this invocation: no figure for it.")
	}
	if _, ok := b.peakRSS["backfill"]; !ok {
		sec.notes = append(sec.notes, "Scenario 3 did not run in this invocation: no figure for it.")
	}
	b.report.add(sec)
	return nil
}

func joinMB(vs []float64, format string) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprintf(format, v)
	}
	return strings.Join(s, " / ")
}
