package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// TestSyncUsageCommand: `provisioner sync usage --since D` syncs from D to
// today with a progress line per page, storing OpenAI's exact figures;
// bad arguments are refused with a message.
func TestSyncUsageCommand(t *testing.T) {
	t.Parallel()
	pool, url := dbtest.NewPoolURL(t)
	fake := openaitest.New(openaitest.Options{AdminKey: backfillCLIKey})
	t.Cleanup(fake.Close)
	fake.AddProjectWithID("proj_cli", "CLI Co")
	fake.SetResultsPerPage(2)
	env := map[string]string{
		"APP_ENV": "test", "DATABASE_URL": url, "OPENAI_ADMIN_KEY": backfillCLIKey, "OPENAI_BASE_URL": fake.URL,
	}
	runSync := func(args ...string) (string, error) {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := run(ctx, append([]string{"sync"}, args...), func(k string) string { return env[k] }, strings.NewReader(""), &out, io.Discard)
		return out.String(), err
	}
	since := time.Now().UTC().AddDate(0, 0, -5).Format(time.DateOnly)
	out, err := runSync("usage", "--since", since)
	if err != nil {
		t.Fatalf("sync usage: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Synced "+since) || strings.Count(out, "] costs") < 2 || !strings.Contains(out, "] usage") {
		t.Errorf("output:\n%s", out)
	}
	from, _ := time.Parse(time.DateOnly, since)
	want := fake.CostTotal(from, time.Now().UTC().AddDate(0, 0, 1))["usd"]
	var got decimal.Decimal
	if err := pool.QueryRow(context.Background(), `SELECT coalesce(sum(amount), 0) FROM cost_daily`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if !got.Equal(want) || want.IsZero() {
		t.Errorf("stored %s, want %s", got, want)
	}
	for _, bad := range [][]string{{}, {"costs"}, {"usage", "--since", "yesterday"}, {"usage", "--since", "2999-01-01"}, {"usage", "extra"}} {
		if _, err := runSync(bad...); err == nil {
			t.Errorf("sync %v: no error", bad)
		}
	}
}
