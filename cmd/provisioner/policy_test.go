package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

func TestPolicyCLI(t *testing.T) {
	t.Parallel()
	fake := openaitest.New(openaitest.Options{AdminKey: "sk-admin-clitest"})
	t.Cleanup(fake.Close)
	getenv, pool := userEnv(t, map[string]string{"OPENAI_ADMIN_KEY": "sk-admin-clitest", "OPENAI_BASE_URL": fake.URL})
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.json")
	const doc = `{"spend_limit_cents": 50000, "alerts": [{"threshold_cents": 40000, "recipients": ["ops@example.com"]}], "rate_limits": {"gpt-4o-mini": {"max_requests_per_1_minute": 500, "max_tokens_per_1_minute": 200000}}, "allowed_models": ["gpt-4o-mini"]}`
	if err := os.WriteFile(good, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"spend_limit_cents": -1, "allowed_models": ["gpt-9"]}`), 0o600); err != nil {
		t.Fatal(err)
	}

	_, stderr, err := runCLI(t, getenv, "", "policy", "set", bad)
	if err == nil || !strings.Contains(stderr, "spend_limit_cents:") || !strings.Contains(stderr, `"gpt-9"`) {
		t.Fatalf("bad policy: err=%v stderr=%s", err, stderr)
	}
	out, _, err := runCLI(t, getenv, "", "policy", "set", good)
	if err != nil || !strings.Contains(out, "Saved policy version 1") {
		t.Fatalf("set: %v %s", err, out)
	}
	out, _, err = runCLI(t, getenv, "", "policy", "show")
	if err != nil || !strings.Contains(out, `"spend_limit_cents": 50000`) || !strings.Contains(out, `"max_tokens_per_1_minute": 200000`) {
		t.Fatalf("show: %v %s", err, out)
	}
	// The shown JSON is accepted back as it is, and changes nothing.
	out, _, err = runCLI(t, getenv, out, "policy", "set", "-")
	if err != nil || !strings.Contains(out, "nothing changed") {
		t.Errorf("set of the shown policy: %v %s", err, out)
	}
	var actor string
	if err := pool.QueryRow(context.Background(), `SELECT actor_email FROM audit_log WHERE action = 'policy.set'`).Scan(&actor); err != nil || actor != cliActor.Email {
		t.Errorf("audit actor %q, %v", actor, err)
	}

	orphan := fake.AddProject("stray", false)
	out, _, err = runCLI(t, getenv, "", "reconcile")
	if err != nil || !strings.Contains(out, "Checked 0 projects") || !strings.Contains(out, "1 orphan projects") {
		t.Errorf("reconcile: %v %s", err, out)
	}
	var n int
	_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM orphan_projects WHERE project_id = $1`, orphan.ID).Scan(&n)
	if n != 1 {
		t.Error("reconcile did not record the orphan")
	}
}
