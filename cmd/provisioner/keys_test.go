package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/keystore"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

func TestKeysKeysetCreateAndRotate(t *testing.T) {
	t.Parallel()
	out, _, err := runCLI(t, func(string) string { return "" }, "", "keys", "keyset", "create")
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Parse([]byte(out))
	if err != nil {
		t.Fatalf("the printed keyset does not load: %v", err)
	}
	path := filepath.Join(t.TempDir(), "ks.json")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	rotated, _, err := runCLI(t, func(k string) string {
		return map[string]string{"KEY_ENCRYPTION_KEYSET": path}[k]
	}, "", "keys", "keyset", "rotate")
	if err != nil {
		t.Fatal(err)
	}
	ks2, err := keystore.Parse([]byte(rotated))
	if err != nil || ks2.PrimaryKeyID() == ks.PrimaryKeyID() {
		t.Fatalf("rotated keyset: %v (primary %d, was %d)", err, ks2.PrimaryKeyID(), ks.PrimaryKeyID())
	}
	ct, _ := ks.Seal([]byte("v"), 1, "k")
	if _, err := ks2.Open(ct, 1, "k"); err != nil {
		t.Errorf("the rotated keyset lost the old key: %v", err)
	}
}

// In development without a keyset, the app makes one under DATA_DIR and
// warns; the keys backfill dry run then works.
func TestKeysDevKeysetAndBackfillDryRun(t *testing.T) {
	t.Parallel()
	fake := openaitest.New(openaitest.Options{})
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	getenv, pool := userEnv(t, map[string]string{"DATA_DIR": dir, "OPENAI_ADMIN_KEY": "sk-admin-cli-test", "OPENAI_BASE_URL": fake.URL})
	p := fake.AddProject("Linked", false)
	if _, err := pool.Exec(context.Background(), `INSERT INTO companies (name, industry, contact_name, contact_email, project_description, openai_project_id, provisioning_status)
		VALUES ('Linked', 'Software', 'T', 't@example.com', 'd', $1, 'provisioned')`, p.ID); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCLI(t, getenv, "", "keys", "backfill", "--dry-run")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	if !strings.Contains(out, "1 provisioned companies have no key") || !strings.Contains(out, "Linked") {
		t.Errorf("dry run said %q", out)
	}
	// Nothing was stored: the development keyset is not made yet.
	if _, err := os.Stat(filepath.Join(dir, keystore.DevKeysetFile)); err == nil {
		t.Error("the dry run wrote a keyset")
	}
	if len(fake.ServiceAccounts(p.ID)) != 0 {
		t.Error("the dry run created a service account")
	}
	out, stderr, err = runCLI(t, getenv, "", "keys", "backfill")
	if err != nil || !strings.Contains(out, "1 created") {
		t.Fatalf("backfill: %v %q %s", err, out, stderr)
	}
	if !strings.Contains(stderr, "KEY_ENCRYPTION_KEYSET is not set") {
		t.Errorf("no warning about the development keyset: %s", stderr)
	}
	if fi, err := os.Stat(filepath.Join(dir, keystore.DevKeysetFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("no development keyset in DATA_DIR: %v", err)
	}
	if len(fake.ServiceAccounts(p.ID)) != 1 {
		t.Errorf("the backfill made %d service accounts", len(fake.ServiceAccounts(p.ID)))
	}
	out, _, err = runCLI(t, getenv, "", "keys", "reencrypt")
	if err != nil || !strings.Contains(out, "Re-encrypted 0 stored keys") || !strings.Contains(out, "1 were already") {
		t.Errorf("reencrypt: %v %q", err, out)
	}
	value := fake.ServiceAccounts(p.ID)[0].KeyValue
	if strings.Contains(out+stderr, value) {
		t.Error("the CLI printed the key value")
	}
}

func TestProductionRefusesKeysWithoutKeyset(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"APP_ENV": "production", "SESSION_SECRET": strings.Repeat("x", 40), "DATABASE_URL": "postgres://127.0.0.1:1/none",
		"OPENAI_ADMIN_KEY": "sk-admin-prod",
	}
	_, _, err := runCLI(t, func(k string) string { return env[k] }, "", "serve")
	if err == nil || !strings.Contains(err.Error(), "KEY_ENCRYPTION_KEYSET") {
		t.Fatalf("serve in production without a keyset: %v", err)
	}
}

func TestTokenCLI(t *testing.T) {
	t.Parallel()
	getenv, pool := userEnv(t, nil)
	out, stderr, err := runCLI(t, getenv, "", "token", "create", "--name", "host-app", "--scopes", "companies:write,keys:read")
	if err != nil {
		t.Fatalf("%v %s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	value := lines[len(lines)-1]
	if !strings.HasPrefix(value, "pvt_") {
		t.Fatalf("printed %q", out)
	}
	list, _, err := runCLI(t, getenv, "", "token", "list")
	if err != nil || !strings.Contains(list, "host-app") || !strings.Contains(list, "companies:write,keys:read") || strings.Contains(list, value) {
		t.Errorf("list: %v %q", err, list)
	}
	if _, stderr, err := runCLI(t, getenv, "", "token", "create", "--name", "x", "--scopes", "root"); err == nil || !strings.Contains(stderr, "--scopes") {
		t.Errorf("bad scope: %v %q", err, stderr)
	}
	if _, _, err := runCLI(t, getenv, "", "token", "revoke", "host-app"); err != nil {
		t.Fatal(err)
	}
	var revoked bool
	if err := pool.QueryRow(context.Background(), `SELECT revoked_at IS NOT NULL FROM api_tokens WHERE name = 'host-app'`).Scan(&revoked); err != nil || !revoked {
		t.Errorf("not revoked: %v", err)
	}
}
