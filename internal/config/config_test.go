package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoad_Defaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.Env != config.EnvDevelopment || c.SignupTimeout != 5*time.Second ||
		c.ProvisionMaxAttempts != 10 || c.BackfillConcurrency != 4 || c.OpenAIBaseURL != "https://api.openai.com/v1" {
		t.Errorf("defaults = %+v", c)
	}
	if c.OpenAIConfigured() {
		t.Error("no key set, but OpenAIConfigured")
	}
	if c.OpenAIMaxRPS != 0 {
		t.Errorf("OPENAI_MAX_RPS unset: cap %v, want 0 (none)", c.OpenAIMaxRPS)
	}
	if !c.EmbeddedDatabase() {
		t.Error("no DATABASE_URL, but not the embedded database")
	}
}

func TestLoad_MaxRPS(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		value string
		want  float64
		ok    bool
	}{
		{"50", 50, true}, {" 2.5 ", 2.5, true}, {"-3", 0, false}, {"fast", 0, false}, {"NaN", 0, false}, {"Inf", 0, false},
	} {
		c, err := config.Load(env(map[string]string{"OPENAI_MAX_RPS": tt.value}))
		if (err == nil) != tt.ok || c.OpenAIMaxRPS != tt.want {
			t.Errorf("OPENAI_MAX_RPS=%q: cap %v, err %v; want %v, ok %v", tt.value, c.OpenAIMaxRPS, err, tt.want, tt.ok)
		}
	}
}

// OPENAI_API_KEY is the seed's name for the key; OPENAI_ADMIN_KEY wins.
func TestLoad_KeyNames(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{"OPENAI_API_KEY": "sk-admin-seed"}))
	if err != nil || c.OpenAIAdminKey != "sk-admin-seed" {
		t.Fatalf("OPENAI_API_KEY: key %q, err %v", c.OpenAIAdminKey, err)
	}
	c, err = config.Load(env(map[string]string{"OPENAI_API_KEY": "sk-admin-seed", "OPENAI_ADMIN_KEY": "sk-admin-new"}))
	if err != nil || c.OpenAIAdminKey != "sk-admin-new" {
		t.Fatalf("both: key %q, err %v", c.OpenAIAdminKey, err)
	}
}

// Every bad value is reported at once, each naming its variable, and a
// database password never appears in the message.
func TestLoad_BadValues(t *testing.T) {
	t.Parallel()
	_, err := config.Load(env(map[string]string{
		"APP_ENV":                "staging",
		"DATABASE_URL":           "mysql://root:hunter2@db/x",
		"OPENAI_BASE_URL":        "ftp://example.com",
		"OPENAI_SIGNUP_TIMEOUT":  "soon",
		"PROVISION_MAX_ATTEMPTS": "-1",
		"BACKFILL_CONCURRENCY":   "many",
		"OPENAI_MAX_RPS":         "0",
	}))
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, name := range []string{"APP_ENV", "DATABASE_URL", "OPENAI_BASE_URL", "OPENAI_SIGNUP_TIMEOUT", "PROVISION_MAX_ATTEMPTS", "BACKFILL_CONCURRENCY", "OPENAI_MAX_RPS"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the database password: %v", err)
	}
}

func TestLoad_Production(t *testing.T) {
	t.Parallel()
	_, err := config.Load(env(map[string]string{"APP_ENV": "production"}))
	if err == nil || !strings.Contains(err.Error(), "SESSION_SECRET") || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("production without secret and database: err = %v", err)
	}
	c, err := config.Load(env(map[string]string{
		"APP_ENV": "production", "SESSION_SECRET": strings.Repeat("s", 32),
		"DATABASE_URL": "postgres://app@db.internal/provisioner",
	}))
	if err != nil || !c.Production() || c.EmbeddedDatabase() {
		t.Fatalf("production config = %+v, %v", c, err)
	}
}
