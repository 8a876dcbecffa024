package web

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// How the dashboard writes times: always UTC, so that staff in different
// zones read the same value, with the ISO form beside it in <time datetime>.
const (
	dayLayout    = "2006-01-02"
	minuteLayout = "2006-01-02 15:04 UTC"
	secondLayout = "2006-01-02 15:04:05 UTC"
)

// stamp formats t to the second: events (attempts, audit entries, runs).
func stamp(t time.Time) string { return t.UTC().Format(secondLayout) }

// isoTime is t for a <time datetime> attribute.
func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// thousands formats n with thousands separators: 1234567 → "1,234,567".
func thousands[T ~int | ~int64](n T) string {
	s := strconv.FormatInt(int64(n), 10)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// eta formats a time left: "45s", "3m 20s", "2h 5m"; "" when unknown.
func eta(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(math.Ceil(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
}
