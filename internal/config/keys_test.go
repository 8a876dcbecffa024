package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/config"
)

func TestLoad_Keys(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	if err != nil || c.KeysEnabled {
		t.Fatalf("no admin key: KeysEnabled %v err %v", c.KeysEnabled, err)
	}
	c, err = config.Load(env(map[string]string{"OPENAI_ADMIN_KEY": "sk-admin-x"}))
	if err != nil || !c.KeysEnabled || c.KeyServiceAccountName != "provisioner" || c.KeyRotationDays != 90 ||
		c.KeyGracePeriod != 24*time.Hour || c.KeyRotation() != 90*24*time.Hour {
		t.Fatalf("defaults with an admin key: %+v %v", c, err)
	}
	c, err = config.Load(env(map[string]string{"OPENAI_ADMIN_KEY": "sk-admin-x", "KEYS_ENABLED": "false"}))
	if err != nil || c.KeysEnabled {
		t.Fatalf("KEYS_ENABLED=false: %v %v", c.KeysEnabled, err)
	}
	// Production refuses to start with keys enabled and no keyset.
	prod := map[string]string{
		"APP_ENV": "production", "SESSION_SECRET": strings.Repeat("s", 40), "DATABASE_URL": "postgres://x/y",
		"OPENAI_ADMIN_KEY": "sk-admin-x",
	}
	if _, err := config.Load(env(prod)); err == nil || !strings.Contains(err.Error(), "KEY_ENCRYPTION_KEYSET") {
		t.Errorf("production without keyset: %v", err)
	}
	prod["KEY_ENCRYPTION_KEYSET"] = "/etc/provisioner/keyset.json"
	if _, err := config.Load(env(prod)); err != nil {
		t.Errorf("production with keyset: %v", err)
	}
	delete(prod, "KEY_ENCRYPTION_KEYSET")
	prod["KEYS_ENABLED"] = "false"
	if _, err := config.Load(env(prod)); err != nil {
		t.Errorf("production with keys disabled: %v", err)
	}
	_, err = config.Load(env(map[string]string{
		"KEYS_ENABLED": "maybe", "KEY_ROTATION_DAYS": "0", "KEY_GRACE_PERIOD": "soon",
		"WEBHOOK_URL": "ftp://x", "WEBHOOK_SECRET": "whsec_!!!",
	}))
	for _, name := range []string{"KEYS_ENABLED", "KEY_ROTATION_DAYS", "KEY_GRACE_PERIOD", "WEBHOOK_URL", "WEBHOOK_SECRET"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("bad %s not reported: %v", name, err)
		}
	}
	if _, err := config.Load(env(map[string]string{"WEBHOOK_URL": "https://host.example/hook"})); err == nil {
		t.Error("WEBHOOK_URL without a secret accepted")
	}
}
