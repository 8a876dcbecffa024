package config_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/config"
)

func TestLoad_SecuritySettings(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.SignupRatePerIP != 5 || len(c.TrustedProxies) != 0 || c.MetricsAddr != "" || c.MetricsToken != "" {
		t.Errorf("defaults: rate %d, proxies %v, metrics %q", c.SignupRatePerIP, c.TrustedProxies, c.MetricsAddr)
	}
	c, err = config.Load(env(map[string]string{
		"SIGNUP_RATE_PER_IP": "0",
		"TRUSTED_PROXIES":    "10.0.0.0/8, 192.168.1.7,2001:db8::/32",
		"METRICS_ADDR":       "127.0.0.1:9090",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if c.SignupRatePerIP != 0 || !slices.Equal(c.TrustedProxies, want) || c.MetricsAddr != "127.0.0.1:9090" {
		t.Errorf("got rate %d, proxies %v, metrics %q", c.SignupRatePerIP, c.TrustedProxies, c.MetricsAddr)
	}
	_, err = config.Load(env(map[string]string{
		"SIGNUP_RATE_PER_IP": "-1",
		"TRUSTED_PROXIES":    "10.0.0.0/8,proxy.internal",
		"METRICS_TOKEN":      "short",
	}))
	for _, name := range []string{"SIGNUP_RATE_PER_IP", "TRUSTED_PROXIES", "METRICS_TOKEN"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("bad %s: error %v, want it named", name, err)
		}
	}
}
