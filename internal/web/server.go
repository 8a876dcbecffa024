// Package web is Provisioner's HTTP face: the Echo app with the public
// signup, the staff dashboard, the JSON API and the health endpoints. Its
// handlers are thin: they bind and validate input, call the domain services
// and render templ views.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/provisioner/provisioner/internal/apitoken"
	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/config"
	"github.com/provisioner/provisioner/internal/cost"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/keys"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/policy"
	"github.com/provisioner/provisioner/internal/provision"
	"github.com/provisioner/provisioner/internal/ratelimit"
	"github.com/provisioner/provisioner/internal/webhook"
)

// Deps are the services the web app is built on.
type Deps struct {
	Config    config.Config
	Logger    *slog.Logger
	Pool      *pgxpool.Pool
	Companies *company.Service
	Auth      *auth.Service
	Backfill  *provision.Backfiller
	// Policy is the guard rails per project (policy.go); nil in tests that
	// do not need it.
	Policy *policy.Service
	// Keys and Tokens serve the per-company keys and the host-app API
	// (api_v1*.go); nil leaves /api/v1 answering 503.
	Keys   *keys.Service
	Tokens *apitoken.Service
	// Webhooks serves the deliveries page; nil shows it disabled.
	Webhooks *webhook.Service
	// OpenAI, if set, is the client's monitor: the home page shows how
	// OpenAI last answered and tests the connection through it.
	OpenAI *openai.Monitor
	// Costs syncs and reports what companies cost (costs.go).
	Costs *cost.Service
	// Gatherer serves /metrics; nil disables it.
	Gatherer prometheus.Gatherer
	// JobsUI, if set, is River's job dashboard, served to admins under
	// JobsPrefix.
	JobsUI http.Handler
	// Sandbox is true when OpenAI is simulated in-process (demo mode).
	Sandbox bool
	// OpenAIPace, if set, reports the OpenAI rate governor's pace, which
	// the backfill pages show while a run goes.
	OpenAIPace func() governor.Status
	// SetupToken, when set, is a first run's setup link token: /setup
	// then creates the first admin, and the dashboard explains how to get
	// there until a staff user exists (setup.go).
	SetupToken string
}

// Server is the Echo app and the http.Server that serves it.
type Server struct {
	e         *echo.Echo
	cfg       config.Config
	logger    *slog.Logger
	pool      *pgxpool.Pool
	companies *company.Service
	auth      *auth.Service
	backfill  *provision.Backfiller
	policy    *policy.Service
	keys      *keys.Service
	tokens    *apitoken.Service
	webhooks  *webhook.Service
	openai    *openai.Monitor
	costs     *cost.Service
	gatherer  prometheus.Gatherer
	jobsUI    http.Handler
	sandbox   bool
	pace      func() governor.Status
	setup     *firstRun // nil unless this is a first run
	// signupLimit counts public signups per client address (signup.go).
	signupLimit *ratelimit.Limiter
	http        *http.Server
	handler     http.Handler // e behind the cross-origin protection (csrf.go)
	metricsHTTP *http.Server // the METRICS_ADDR listener, if any (metrics.go)
}

// NewServer builds the app with every route registered.
func NewServer(d Deps) *Server {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{
		e: e, cfg: d.Config, logger: d.Logger, pool: d.Pool, companies: d.Companies,
		auth: d.Auth, backfill: d.Backfill, policy: d.Policy, keys: d.Keys, tokens: d.Tokens, webhooks: d.Webhooks, costs: d.Costs, openai: d.OpenAI, gatherer: d.Gatherer, jobsUI: d.JobsUI, sandbox: d.Sandbox,
		pace:        d.OpenAIPace,
		setup:       newFirstRun(d.SetupToken),
		signupLimit: ratelimit.New(d.Pool, "signup", d.Config.SignupRatePerIP, time.Hour),
	}
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = ipExtractor(d.Config.TrustedProxies)
	s.routes()
	s.handler = crossOrigin(e)
	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	return s
}

// Handler returns the app as an http.Handler (for tests), with the
// cross-origin protection in front as it is served.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on the configured address until Shutdown.
func (s *Server) Serve(ready func(addr string)) error {
	s.http.Addr = s.cfg.Addr
	ln, err := listen(s.cfg.Addr)
	if err != nil {
		return err
	}
	if err := s.serveMetrics(); err != nil {
		ln.Close()
		return err
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.metricsHTTP != nil {
		_ = s.metricsHTTP.Shutdown(ctx)
	}
	return s.http.Shutdown(ctx)
}

func (s *Server) commonMiddleware() {
	s.e.Use(middleware.RequestID())
	s.e.Use(s.logRequests)
	s.e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		// The panic, with its stack, goes back to logRequests as the
		// request's error rather than to Echo's own logger: one line.
		LogErrorFunc: func(_ echo.Context, err error, stack []byte) error {
			return fmt.Errorf("panic: %w\n%s", err, stack)
		},
		DisableErrorHandler: true,
	}))
	s.e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		HSTSMaxAge:            hstsAge(s.cfg.Production()),
		ContentSecurityPolicy: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'",
		ReferrerPolicy:        "strict-origin-when-cross-origin",
	}))
	s.e.Use(middleware.BodyLimit("1M"))
	s.e.Use(rejectBadInput) // input.go
}

func hstsAge(production bool) int {
	if production {
		return 31536000
	}
	return 0
}

// logRequests logs each request once, with its request id and, when it
// failed, the error handleError answered: 5xx at Error, other failures at
// Warn. It also stamps the answer's Server-Timing header.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		res := c.Response()
		// Server-Timing (W3C) says how long the server took, measured up to
		// the answer's first byte: the figure browser tools and make bench
		// read, without the network or the client in it.
		res.Before(func() {
			res.Header().Set("Server-Timing", fmt.Sprintf("app;dur=%.3f", float64(time.Since(start).Microseconds())/1000))
		})
		if err := next(c); err != nil {
			c.Error(err)
		}
		req := c.Request()
		err, _ := c.Get(requestErrorKey).(error)
		level := slog.LevelInfo
		switch {
		case res.Status >= 500:
			level = slog.LevelError
		case err != nil:
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{
			slog.String("method", req.Method),
			slog.String("path", req.URL.Path),
			slog.Int("status", res.Status),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
		}
		if u, ok := currentUser(c); ok {
			attrs = append(attrs, slog.Int64("staff_id", u.ID))
		}
		if err != nil {
			attrs = append(attrs, slog.Any("error", err))
		}
		s.logger.LogAttrs(req.Context(), level, "request", attrs...)
		return nil
	}
}
