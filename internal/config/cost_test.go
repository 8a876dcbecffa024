package config_test

import (
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/config"
)

func TestCostSettings(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.UsageSyncInterval != time.Hour || c.CostResyncDays != 3 || c.CostHistoryDays != 90 || c.MarkupPercent != "0" {
		t.Errorf("defaults: %v %d %d %q", c.UsageSyncInterval, c.CostResyncDays, c.CostHistoryDays, c.MarkupPercent)
	}
	c, err = config.Load(env(map[string]string{"USAGE_SYNC_INTERVAL": "15m", "COST_RESYNC_DAYS": "0", "COST_HISTORY_DAYS": "30", "MARKUP_PERCENT": "12.5"}))
	if err != nil || c.UsageSyncInterval != 15*time.Minute || c.CostResyncDays != 0 || c.CostHistoryDays != 30 || c.MarkupPercent != "12.5" {
		t.Errorf("set: %+v %v", c, err)
	}
	if c, err := config.Load(env(map[string]string{"USAGE_SYNC_INTERVAL": "off"})); err != nil || c.UsageSyncInterval != 0 {
		t.Errorf("off: %v %v", c.UsageSyncInterval, err)
	}
	for _, bad := range []map[string]string{
		{"MARKUP_PERCENT": "-1"}, {"MARKUP_PERCENT": "abc"}, {"MARKUP_PERCENT": "1000.5"}, {"MARKUP_PERCENT": "1e3"},
		{"COST_RESYNC_DAYS": "-2"}, {"COST_HISTORY_DAYS": "0"}, {"USAGE_SYNC_INTERVAL": "soon"},
	} {
		if _, err := config.Load(env(bad)); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
