// Package config turns the process environment into a typed Config. It is the
// only package that reads environment variables: everything else receives a
// Config, which keeps tests free to build any configuration they need.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Environments the app knows. Production turns on Secure cookies and requires
// a session secret.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
	EnvTest        = "test"
)

// MinSessionSecretLen is the shortest SESSION_SECRET accepted.
const MinSessionSecretLen = 32

// MaxBackfillConcurrency bounds BACKFILL_CONCURRENCY: the database pool
// (40 connections by default) must keep room for the web requests.
const MaxBackfillConcurrency = 32

// MinAdminAPITokenLen is the shortest ADMIN_API_TOKEN accepted.
const MinAdminAPITokenLen = 32

// DefaultDatabaseURL is the machine's own PostgreSQL on its usual address,
// which the demo falls back to. DATABASE_URL itself has no default: unset,
// the app runs a private server (see Config.EmbeddedDatabase).
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/provisioner?sslmode=disable"

// DefaultDataDir is where DATA_DIR points when unset (git-ignored).
const DefaultDataDir = "./.data"

// Config is everything the process needs to know about its surroundings.
type Config struct {
	Env  string
	Addr string
	// DatabaseURL is DATABASE_URL. Empty when unset: the app then runs a
	// private PostgreSQL in DataDir (see EmbeddedDatabase).
	DatabaseURL string
	// DataDir is DATA_DIR, the folder of the app's local files; the private
	// PostgreSQL keeps its data in DataDir/postgres.
	DataDir string

	// OpenAIAdminKey is the admin key (sk-admin-…). Empty means project
	// creation is skipped, as the seed specifies. Never log or render it.
	OpenAIAdminKey string
	OpenAIOrgID    string
	OpenAIBaseURL  string
	// OpenAITimeout bounds one request to OpenAI.
	OpenAITimeout time.Duration
	// SignupTimeout bounds how long a signup waits for OpenAI before it
	// answers "pending" and leaves the project to the background job.
	SignupTimeout time.Duration
	// OpenAIMaxRPS (OPENAI_MAX_RPS), when above 0, caps the calls per
	// second all processes together make to OpenAI; the rate governor
	// otherwise learns the limit from OpenAI's answers.
	OpenAIMaxRPS float64

	// ProvisionMaxAttempts bounds the passing failures one provisioning run
	// may spend before the company is marked failed.
	ProvisionMaxAttempts int
	// ProvisionBackoffBase and ProvisionBackoffMax shape the exponential
	// backoff between tries.
	ProvisionBackoffBase time.Duration
	ProvisionBackoffMax  time.Duration
	// ProvisionSettleDelay is how long a try waits after an uncertain outcome
	// (timeout, lost answer) before it looks for the project on OpenAI, so
	// that a create still in flight there has landed.
	ProvisionSettleDelay time.Duration
	// ProvisionWorkers is how many provisioning jobs one process runs at once.
	ProvisionWorkers int
	// BackfillConcurrency is how many companies a backfill run provisions
	// at once (each holds a database connection while OpenAI answers).
	BackfillConcurrency int
	// AdminAPIToken, when set, lets API clients run the backfill with
	// "Authorization: Bearer <token>". Never log it.
	AdminAPIToken string

	// ProjectCreateBudget is PROJECT_CREATE_BUDGET: projects per hour for
	// companies from the public signup form, shared by every process; 0 is
	// no budget. Backfills and staff actions do not count.
	ProjectCreateBudget int
	// SignupProvisioning is SIGNUP_PROVISIONING: "auto" (the seed's
	// behaviour) or "approval" (a new company waits for staff approval).
	SignupProvisioning string
	// OpenAIProjectLimit is OPENAI_PROJECT_LIMIT, the organization's
	// project limit; at it, new projects wait.
	OpenAIProjectLimit int
	// OpenAICapacityRefresh is OPENAI_CAPACITY_REFRESH: how often the
	// organization's active projects are counted.
	OpenAICapacityRefresh time.Duration

	ShutdownTimeout time.Duration

	// Costs (internal/cost): USAGE_SYNC_INTERVAL ("off" or 0: no periodic
	// sync), COST_RESYNC_DAYS, COST_HISTORY_DAYS and MARKUP_PERCENT (a
	// decimal, e.g. 12.5).
	UsageSyncInterval time.Duration
	CostResyncDays    int
	CostHistoryDays   int
	MarkupPercent     string
	// Policy configures the guard rails per project (policy.go).
	Policy PolicyConfig

	// SessionSecret keys the staff session cookie (its signing and
	// encryption keys are derived from it). Never log it.
	SessionSecret string
	// SessionSecretEphemeral is true when SESSION_SECRET was unset outside
	// production and a random secret was made up: sessions then end with
	// the process, which start-up warns about.
	SessionSecretEphemeral bool
	// KeysEnabled is KEYS_ENABLED: every company with a project also gets
	// a service account and its API key. Defaults to true when an admin key
	// is set.
	KeysEnabled bool
	// KeyEncryptionKeyset is KEY_ENCRYPTION_KEYSET: a Tink JSON keyset or
	// the path of a file holding one. Never log it.
	KeyEncryptionKeyset string
	// KeyServiceAccountName names the service account created per project.
	KeyServiceAccountName string
	// KeyRotationDays is how long a key stays current before the scheduled
	// rotation replaces it.
	KeyRotationDays int
	// KeyGracePeriod is how long a replaced key stays valid.
	KeyGracePeriod time.Duration
	// APITokenRateLimit is how many host-app API requests one service token
	// may make per minute, across all processes.
	APITokenRateLimit int
	// WebhookURL and WebhookSecret (Standard Webhooks, "whsec_" + base64)
	// enable webhooks. Never log the secret.
	WebhookURL    string
	WebhookSecret string

	// AdminEmail and AdminPassword create the first admin when the app
	// starts with no staff users. Never log the password.
	AdminEmail    string
	AdminPassword string

	// TrustedProxies is TRUSTED_PROXIES: the reverse proxies whose
	// X-Forwarded-For may be believed. Empty: the client address is the
	// connection's, whatever the headers say.
	TrustedProxies []netip.Prefix
	// SignupRatePerIP is SIGNUP_RATE_PER_IP: public signups allowed per
	// hour from one client address; 0 turns the limit off.
	SignupRatePerIP int
	// MetricsAddr is METRICS_ADDR: a separate listener for /metrics (an
	// internal address). Empty: no metrics listener.
	MetricsAddr string
	// MetricsToken is METRICS_TOKEN: when set, /metrics is also served on
	// the public address to "Authorization: Bearer <token>". Never log it.
	MetricsToken string
}

// SIGNUP_PROVISIONING values.
const (
	SignupAuto     = "auto"
	SignupApproval = "approval"
)

// RequireApproval reports whether new companies wait for staff approval.
func (c Config) RequireApproval() bool { return c.SignupProvisioning == SignupApproval }

// Production reports whether the app runs with production settings.
func (c Config) Production() bool { return c.Env == EnvProduction }

// EmbeddedDatabase reports whether DATABASE_URL is unset, so that the app
// runs its own private PostgreSQL.
func (c Config) EmbeddedDatabase() bool { return c.DatabaseURL == "" }

// OpenAIConfigured reports whether an admin key is set.
func (c Config) OpenAIConfigured() bool { return c.OpenAIAdminKey != "" }

// Load reads the configuration through getenv. It reports every bad value at
// once, each naming its variable, so that one start-up shows all mistakes.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		Env:         p.oneOf("APP_ENV", EnvDevelopment, EnvDevelopment, EnvProduction, EnvTest),
		Addr:        p.str("ADDR", ":8080"),
		DatabaseURL: p.databaseURL("DATABASE_URL"),
		DataDir:     p.str("DATA_DIR", DefaultDataDir),

		OpenAIOrgID:   strings.TrimSpace(getenv("OPENAI_ORG_ID")),
		OpenAIBaseURL: p.httpURL("OPENAI_BASE_URL", "https://api.openai.com/v1"),
		OpenAITimeout: p.duration("OPENAI_TIMEOUT", 30*time.Second),
		SignupTimeout: p.duration("OPENAI_SIGNUP_TIMEOUT", 5*time.Second),
		OpenAIMaxRPS:  p.positiveFloat("OPENAI_MAX_RPS"),

		ProvisionMaxAttempts: p.positiveInt("PROVISION_MAX_ATTEMPTS", 10),
		ProvisionBackoffBase: p.duration("PROVISION_BACKOFF_BASE", 2*time.Second),
		ProvisionBackoffMax:  p.duration("PROVISION_BACKOFF_MAX", 10*time.Minute),
		ProvisionSettleDelay: p.duration("PROVISION_SETTLE_DELAY", 30*time.Second),
		ProvisionWorkers:     p.positiveInt("PROVISION_WORKERS", 10),
		BackfillConcurrency:  p.positiveInt("BACKFILL_CONCURRENCY", 4),

		ProjectCreateBudget:   p.nonNegativeInt("PROJECT_CREATE_BUDGET", 200),
		SignupProvisioning:    p.oneOf("SIGNUP_PROVISIONING", SignupAuto, SignupAuto, SignupApproval),
		OpenAIProjectLimit:    p.positiveInt("OPENAI_PROJECT_LIMIT", 2000),
		OpenAICapacityRefresh: p.duration("OPENAI_CAPACITY_REFRESH", 10*time.Minute),

		ShutdownTimeout: p.duration("SHUTDOWN_TIMEOUT", 20*time.Second),

		UsageSyncInterval: p.durationOrOff("USAGE_SYNC_INTERVAL", time.Hour),
		CostResyncDays:    p.nonNegativeInt("COST_RESYNC_DAYS", 3),
		CostHistoryDays:   p.positiveInt("COST_HISTORY_DAYS", 90),
		MarkupPercent:     p.percent("MARKUP_PERCENT", "0"),
	}
	// OPENAI_API_KEY is the seed's name for the key; the admin key wins.
	c.OpenAIAdminKey = strings.TrimSpace(getenv("OPENAI_ADMIN_KEY"))
	if c.OpenAIAdminKey == "" {
		c.OpenAIAdminKey = strings.TrimSpace(getenv("OPENAI_API_KEY"))
	}
	if strings.ContainsAny(c.OpenAIAdminKey, " \t\r\n") {
		p.fail("OPENAI_ADMIN_KEY", "must not contain white space")
	}
	c.Policy = p.policy(c.OpenAIAdminKey != "")
	c.SessionSecret = strings.TrimSpace(getenv("SESSION_SECRET"))
	switch {
	case c.SessionSecret == "" && c.Production():
		p.fail("SESSION_SECRET", "is required when APP_ENV=production; set at least 32 random characters (openssl rand -hex 32)")
	case c.SessionSecret == "":
		c.SessionSecret = rand.Text() + rand.Text()
		c.SessionSecretEphemeral = true
	case len(c.SessionSecret) < MinSessionSecretLen:
		p.fail("SESSION_SECRET", fmt.Sprintf("is too short; want at least %d characters", MinSessionSecretLen))
	}
	if c.DatabaseURL == "" && c.Production() {
		// A private database in a folder is for trying the app out, not
		// for data that must survive the machine.
		p.fail("DATABASE_URL", "is required when APP_ENV=production")
	}
	if c.BackfillConcurrency > MaxBackfillConcurrency {
		p.fail("BACKFILL_CONCURRENCY", fmt.Sprintf("is %d; want at most %d (each one holds a database connection)", c.BackfillConcurrency, MaxBackfillConcurrency))
	}
	c.AdminAPIToken = strings.TrimSpace(getenv("ADMIN_API_TOKEN"))
	if c.AdminAPIToken != "" && len(c.AdminAPIToken) < MinAdminAPITokenLen {
		p.fail("ADMIN_API_TOKEN", fmt.Sprintf("is too short; want at least %d random characters (openssl rand -hex 32)", MinAdminAPITokenLen))
	}
	p.keys(&c)
	c.AdminEmail = strings.TrimSpace(getenv("ADMIN_EMAIL"))
	c.AdminPassword = getenv("ADMIN_PASSWORD")
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		p.fail("ADMIN_EMAIL", "and ADMIN_PASSWORD must be set together")
	}
	c.TrustedProxies = p.prefixes("TRUSTED_PROXIES")
	c.SignupRatePerIP = p.nonNegativeInt("SIGNUP_RATE_PER_IP", 5)
	c.MetricsAddr = strings.TrimSpace(getenv("METRICS_ADDR"))
	c.MetricsToken = strings.TrimSpace(getenv("METRICS_TOKEN"))
	if c.MetricsToken != "" && len(c.MetricsToken) < MinAdminAPITokenLen {
		p.fail("METRICS_TOKEN", fmt.Sprintf("is too short; want at least %d random characters (openssl rand -hex 32)", MinAdminAPITokenLen))
	}
	if len(p.problems) > 0 {
		return Config{}, errors.New("configuration: " + strings.Join(p.problems, "; "))
	}
	return c, nil
}

// parser collects every problem instead of stopping at the first.
type parser struct {
	getenv   func(string) string
	problems []string
}

func (p *parser) fail(name, msg string) {
	p.problems = append(p.problems, fmt.Sprintf("%s %s", name, msg))
}

func (p *parser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v := p.str(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, fmt.Sprintf("is %q; want one of %s", v, strings.Join(allowed, ", ")))
	return def
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.fail(name, fmt.Sprintf("is %q; want a positive duration such as 5s or 2m", v))
		return def
	}
	return d
}

func (p *parser) positiveInt(name string, def int) int {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		p.fail(name, fmt.Sprintf("is %q; want a whole number above 0", v))
		return def
	}
	return n
}

// positiveFloat returns the number in name, 0 when it is unset.
func (p *parser) positiveFloat(name string) float64 {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		p.fail(name, fmt.Sprintf("is %q; want a number of requests per second above 0, such as 50 or 2.5", v))
		return 0
	}
	return f
}

// durationOrOff is duration, or 0 for "off" (or "0").
func (p *parser) durationOrOff(name string, def time.Duration) time.Duration {
	if v := strings.TrimSpace(p.getenv(name)); v == "off" || v == "0" {
		return 0
	}
	return p.duration(name, def)
}

func (p *parser) nonNegativeInt(name string, def int) int {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		p.fail(name, fmt.Sprintf("is %q; want a whole number, 0 or more", v))
		return def
	}
	return n
}

// percent reads a decimal percentage between 0 and 1000, kept as text so
// that it is never a float.
func (p *parser) percent(name, def string) string {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	if !percentPattern.MatchString(v) {
		p.fail(name, fmt.Sprintf("is %q; want a percentage such as 0, 10 or 12.5 (at most 1000)", v))
		return def
	}
	whole, _, _ := strings.Cut(v, ".")
	if n, _ := strconv.Atoi(whole); n > 1000 || n == 1000 && strings.Trim(strings.TrimPrefix(v, whole), ".0") != "" {
		p.fail(name, fmt.Sprintf("is %q; want at most 1000", v))
		return def
	}
	return v
}

var percentPattern = regexp.MustCompile(`^[0-9]{1,4}(\.[0-9]{1,6})?$`)

// prefixes parses a comma- or space-separated list of IP addresses and
// CIDR ranges; a bare address is a range of one.
func (p *parser) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(p.getenv(name), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if pr, err := netip.ParsePrefix(f); err == nil {
			out = append(out, pr.Masked())
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p.fail(name, fmt.Sprintf("holds %q; want IP addresses or CIDR ranges such as 10.0.0.0/8, separated by commas", f))
	}
	return out
}

func (p *parser) httpURL(name, def string) string {
	v := p.str(name, def)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, fmt.Sprintf("is %q; want an http(s) URL such as %s", v, def))
		return def
	}
	return strings.TrimRight(v, "/")
}

// databaseURL returns the URL in name, or "" when it is unset.
func (p *parser) databaseURL(name string) string {
	v := p.str(name, "")
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Never echo the value: it may hold a password.
		p.fail(name, "is not a postgres:// URL")
		return ""
	}
	return v
}

// keys reads the variables of per-company keys, the host-app API and
// webhooks.
func (p *parser) keys(c *Config) {
	c.KeysEnabled = c.OpenAIConfigured()
	if v := strings.TrimSpace(p.getenv("KEYS_ENABLED")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			p.fail("KEYS_ENABLED", fmt.Sprintf("is %q; want true or false", v))
		}
		c.KeysEnabled = b
	}
	c.KeyEncryptionKeyset = strings.TrimSpace(p.getenv("KEY_ENCRYPTION_KEYSET"))
	if c.KeysEnabled && c.KeyEncryptionKeyset == "" && c.Production() {
		p.fail("KEY_ENCRYPTION_KEYSET", "is required when APP_ENV=production and keys are enabled; create one with `provisioner keys keyset create`")
	}
	c.KeyServiceAccountName = p.str("KEY_SERVICE_ACCOUNT_NAME", "provisioner")
	c.KeyRotationDays = p.positiveInt("KEY_ROTATION_DAYS", 90)
	c.KeyGracePeriod = p.duration("KEY_GRACE_PERIOD", 24*time.Hour)
	c.APITokenRateLimit = p.positiveInt("API_TOKEN_RATE_LIMIT", 600)
	c.WebhookURL = strings.TrimSpace(p.getenv("WEBHOOK_URL"))
	c.WebhookSecret = strings.TrimSpace(p.getenv("WEBHOOK_SECRET"))
	if c.WebhookURL != "" {
		u, err := url.Parse(c.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.fail("WEBHOOK_URL", "is not an http(s) URL")
		}
		if c.WebhookSecret == "" {
			p.fail("WEBHOOK_SECRET", "is required with WEBHOOK_URL (Standard Webhooks: whsec_ followed by base64)")
		}
	}
	if c.WebhookSecret != "" {
		if _, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(c.WebhookSecret, "whsec_")); err != nil {
			p.fail("WEBHOOK_SECRET", "is not base64 (optionally prefixed whsec_)")
		}
	}
}

// KeyRotation is the lifetime of a key before its scheduled rotation.
func (c Config) KeyRotation() time.Duration { return time.Duration(c.KeyRotationDays) * 24 * time.Hour }
