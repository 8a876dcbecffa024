package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/config"
)

func TestLoad_Safeguards(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ProjectCreateBudget != 200 || c.SignupProvisioning != config.SignupAuto || c.RequireApproval() ||
		c.OpenAIProjectLimit != 2000 || c.OpenAICapacityRefresh != 10*time.Minute {
		t.Errorf("defaults = budget %d, provisioning %q, limit %d, refresh %v; want 200, auto, 2000, 10m",
			c.ProjectCreateBudget, c.SignupProvisioning, c.OpenAIProjectLimit, c.OpenAICapacityRefresh)
	}
	c, err = config.Load(env(map[string]string{"PROJECT_CREATE_BUDGET": "0", "SIGNUP_PROVISIONING": "approval", "OPENAI_PROJECT_LIMIT": "10"}))
	if err != nil || c.ProjectCreateBudget != 0 || !c.RequireApproval() || c.OpenAIProjectLimit != 10 {
		t.Errorf("set = %+v, %v; want budget 0 (none), approval, limit 10", c, err)
	}
	_, err = config.Load(env(map[string]string{"PROJECT_CREATE_BUDGET": "-1", "SIGNUP_PROVISIONING": "manual", "OPENAI_PROJECT_LIMIT": "0"}))
	for _, name := range []string{"PROJECT_CREATE_BUDGET", "SIGNUP_PROVISIONING", "OPENAI_PROJECT_LIMIT"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("bad %s accepted: %v", name, err)
		}
	}
}
