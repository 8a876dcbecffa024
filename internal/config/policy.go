package config

import (
	"strconv"
	"strings"
	"time"
)

// PolicyConfig configures the guard rails per project (internal/policy).
type PolicyConfig struct {
	// Enabled is POLICY_ENABLED: apply the policy template to every linked
	// project. Default true when an admin key is set.
	Enabled bool
	// ReconcileInterval is RECONCILE_INTERVAL (default 6h): how often every
	// linked project is checked for drift.
	ReconcileInterval time.Duration
	// Autofix is RECONCILE_AUTOFIX (default false): re-apply the policy to
	// drifted projects without waiting for staff.
	Autofix bool
}

// policy reads the POLICY_* and RECONCILE_* variables.
func (p *parser) policy(keySet bool) PolicyConfig {
	return PolicyConfig{
		Enabled:           p.boolean("POLICY_ENABLED", keySet),
		ReconcileInterval: p.duration("RECONCILE_INTERVAL", 6*time.Hour),
		Autofix:           p.boolean("RECONCILE_AUTOFIX", false),
	}
}

func (p *parser) boolean(name string, def bool) bool {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "is "+strconv.Quote(v)+"; want true or false")
		return def
	}
	return b
}
