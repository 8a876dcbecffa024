package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// A key that is not an admin key gives a clear warning at start (here of
// the backfill command, which sets up like serve), never the key itself.
func TestStartup_KeyWarning(t *testing.T) {
	t.Parallel()
	b := newBackfillCLI(t, 1)
	const projectKey = "sk-proj-not-an-admin-key-123"
	b.env["OPENAI_ADMIN_KEY"] = projectKey
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, []string{"backfill", "--dry-run"}, func(k string) string { return b.env[k] }, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	logs := stderr.String()
	if !strings.Contains(logs, "OPENAI_ADMIN_KEY is a project key (sk-proj-…), which cannot use the Admin API") {
		t.Errorf("start-up logs lack the key warning:\n%s", logs)
	}
	if strings.Contains(logs+stdout.String(), projectKey) {
		t.Error("the key itself was printed")
	}

	// An admin key gives no warning.
	b.env["OPENAI_ADMIN_KEY"] = backfillCLIKey
	stderr.Reset()
	if err := run(ctx, []string{"backfill", "--dry-run"}, func(k string) string { return b.env[k] }, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr.String(), "does not look like an admin key") || strings.Contains(stderr.String(), "cannot use the Admin API") {
		t.Errorf("an admin key was warned about:\n%s", stderr.String())
	}
}
