// Package config turns the process environment into a typed Config. It is the
// only package that reads environment variables: everything else receives a
// Config, which keeps tests free to build any configuration they need.
package config

import (
	"errors"
	"fmt"
	"net/url"
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

// DefaultDatabaseURL is the local PostgreSQL that `make run` and the tests use.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/provisioner?sslmode=disable"

// Config is everything the process needs to know about its surroundings.
type Config struct {
	Env         string
	Addr        string
	DatabaseURL string

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

	ShutdownTimeout time.Duration
}

// Production reports whether the app runs with production settings.
func (c Config) Production() bool { return c.Env == EnvProduction }

// OpenAIConfigured reports whether an admin key is set.
func (c Config) OpenAIConfigured() bool { return c.OpenAIAdminKey != "" }

// Load reads the configuration through getenv. It reports every bad value at
// once, each naming its variable, so that one start-up shows all mistakes.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		Env:         p.oneOf("APP_ENV", EnvDevelopment, EnvDevelopment, EnvProduction, EnvTest),
		Addr:        p.str("ADDR", ":8080"),
		DatabaseURL: p.databaseURL("DATABASE_URL", DefaultDatabaseURL),

		OpenAIOrgID:   strings.TrimSpace(getenv("OPENAI_ORG_ID")),
		OpenAIBaseURL: p.httpURL("OPENAI_BASE_URL", "https://api.openai.com/v1"),
		OpenAITimeout: p.duration("OPENAI_TIMEOUT", 30*time.Second),
		SignupTimeout: p.duration("OPENAI_SIGNUP_TIMEOUT", 5*time.Second),

		ProvisionMaxAttempts: p.positiveInt("PROVISION_MAX_ATTEMPTS", 10),
		ProvisionBackoffBase: p.duration("PROVISION_BACKOFF_BASE", 2*time.Second),
		ProvisionBackoffMax:  p.duration("PROVISION_BACKOFF_MAX", 10*time.Minute),
		ProvisionSettleDelay: p.duration("PROVISION_SETTLE_DELAY", 30*time.Second),
		ProvisionWorkers:     p.positiveInt("PROVISION_WORKERS", 10),

		ShutdownTimeout: p.duration("SHUTDOWN_TIMEOUT", 20*time.Second),
	}
	// OPENAI_API_KEY is the seed's name for the key; the admin key wins.
	c.OpenAIAdminKey = strings.TrimSpace(getenv("OPENAI_ADMIN_KEY"))
	if c.OpenAIAdminKey == "" {
		c.OpenAIAdminKey = strings.TrimSpace(getenv("OPENAI_API_KEY"))
	}
	if strings.ContainsAny(c.OpenAIAdminKey, " \t\r\n") {
		p.fail("OPENAI_ADMIN_KEY", "must not contain white space")
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

func (p *parser) httpURL(name, def string) string {
	v := p.str(name, def)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, fmt.Sprintf("is %q; want an http(s) URL such as %s", v, def))
		return def
	}
	return strings.TrimRight(v, "/")
}

func (p *parser) databaseURL(name, def string) string {
	v := p.str(name, def)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Never echo the value: it may hold a password.
		p.fail(name, "is not a postgres:// URL")
		return def
	}
	return v
}
