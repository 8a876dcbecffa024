package main

import (
	"strings"
	"testing"
)

func TestCompanyName(t *testing.T) {
	t.Parallel()
	for _, list := range [][]string{nameDescriptors, nameNouns, nameTrades} {
		seen := map[string]bool{}
		for _, w := range list {
			if seen[strings.ToLower(w)] {
				t.Errorf("word %q is listed twice", w)
			}
			seen[strings.ToLower(w)] = true
		}
	}
	if nameSpace < 1_000_000 {
		t.Fatalf("nameSpace = %d, want at least a million names", nameSpace)
	}
	// The full run seeds a million companies into a table whose names are
	// unique whatever their case.
	seen := make(map[string]int, 1_000_000)
	for i := range 1_000_000 {
		n := strings.ToLower(companyName(i))
		if j, ok := seen[n]; ok {
			t.Fatalf("companyName(%d) = companyName(%d) = %q", i, j, n)
		}
		seen[n] = i
	}
}

func TestSeedStatus(t *testing.T) {
	t.Parallel()
	const n = 100_000
	got := map[string]int{}
	for i := range n {
		got[seedStatus(mixRealistic, i)]++
	}
	for status, want := range map[string]float64{"provisioned": .70, "skipped": .20, "failed": .10} {
		if share := float64(got[status]) / n; share < want-.02 || share > want+.02 {
			t.Errorf("share of %s = %.3f, want about %.2f", status, share, want)
		}
	}
	if s := seedStatus(mixMissing, 7); s != "skipped" {
		t.Errorf("seedStatus(mixMissing) = %q, want skipped", s)
	}
}
