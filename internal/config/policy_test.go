package config

import (
	"strings"
	"testing"
	"time"
)

func TestPolicyConfig(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string) (Config, error) { return Load(func(k string) string { return env[k] }) }
	c, err := load(map[string]string{"OPENAI_ADMIN_KEY": "sk-admin-x"})
	if err != nil || !c.Policy.Enabled || c.Policy.ReconcileInterval != 6*time.Hour || c.Policy.Autofix {
		t.Errorf("with a key: %+v, %v; want enabled, 6h, no autofix", c.Policy, err)
	}
	if c, _ := load(map[string]string{}); c.Policy.Enabled {
		t.Error("without a key the policy is enabled")
	}
	c, err = load(map[string]string{"OPENAI_ADMIN_KEY": "sk-admin-x", "POLICY_ENABLED": "false", "RECONCILE_INTERVAL": "30m", "RECONCILE_AUTOFIX": "true"})
	if err != nil || c.Policy.Enabled || c.Policy.ReconcileInterval != 30*time.Minute || !c.Policy.Autofix {
		t.Errorf("set: %+v, %v", c.Policy, err)
	}
	_, err = load(map[string]string{"POLICY_ENABLED": "maybe", "RECONCILE_INTERVAL": "soon"})
	if err == nil || !strings.Contains(err.Error(), "POLICY_ENABLED") || !strings.Contains(err.Error(), "RECONCILE_INTERVAL") {
		t.Errorf("bad values: %v", err)
	}
}
