package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/provisioner/provisioner/internal/apitoken"
	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/config"
	"github.com/provisioner/provisioner/internal/cost"
	"github.com/provisioner/provisioner/internal/keys"
	"github.com/provisioner/provisioner/internal/metrics"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/policy"
	"github.com/provisioner/provisioner/internal/provision"
	"github.com/provisioner/provisioner/internal/web"
	"github.com/provisioner/provisioner/internal/webhook"
)

// app is the wired application: every long-lived dependency, built once.
type app struct {
	cfg       config.Config
	logger    *slog.Logger
	db        *database
	pool      *pgxpool.Pool
	registry  *prometheus.Registry
	prov      *provision.Provisioner
	river     *river.Client[pgx.Tx]
	companies *company.Service
	auth      *auth.Service
	backfill  *provision.Backfiller
	policy    *policy.Service
	keys      *keys.Service
	webhooks  *webhook.Service
	// openai watches the OpenAI client's answers for the home page; nil
	// without a key.
	openai *openai.Monitor
	// riverOpts are the options river was built with; the backfill
	// command builds a client of its own from them.
	riverOpts provision.ClientOptions
	working   bool
	costs     *cost.Service // costs.go
	// stopping is closed when a graceful stop begins (stopJobs), for the
	// jobs that would otherwise not hear of it until they are cancelled.
	stopping     chan struct{}
	stoppingOnce sync.Once
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if cfg.Production() {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// setup loads the configuration, prepares the database and wires the app.
// work says whether this process runs background jobs.
func setup(ctx context.Context, getenv func(string) string, stderr io.Writer, work bool) (*app, error) {
	cfg, d, logger, err := openConfigured(ctx, getenv, stderr)
	if err != nil {
		return nil, err
	}
	pool := d.pool

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(registry)
	metrics.RegisterDBCollector(registry, pool, logger)

	var (
		projects openai.Projects
		client   *openai.Client
		monitor  *openai.Monitor
		usage    openai.Usage // costs and usage reads (internal/cost)
	)
	if cfg.OpenAIConfigured() {
		if err := d.startGovernor(ctx, cfg, m, registry, logger); err != nil {
			d.close()
			return nil, err
		}
		client, err = openai.New(openai.Options{
			AdminKey: cfg.OpenAIAdminKey, OrgID: cfg.OpenAIOrgID, BaseURL: cfg.OpenAIBaseURL,
			Timeout: cfg.OpenAITimeout, Observe: m.ObserveOpenAI, Governor: d.gov,
		})
		if err != nil {
			d.close()
			return nil, err
		}
		monitor = openai.NewMonitor(client, cfg.OpenAIAdminKey)
		projects, usage = monitor, client
		if w := monitor.KeyWarning(); w != "" {
			logger.Warn("⚠️ " + w)
		}
	} else {
		logger.Warn("⚠️ OPENAI_ADMIN_KEY is not set: signups will skip OpenAI project creation until it is")
	}
	authSvc, err := auth.NewService(pool, auth.Options{Secret: cfg.SessionSecret, Secure: cfg.Production()})
	if err != nil {
		d.close()
		return nil, err
	}
	prov := provision.New(pool, projects, provision.Settings{
		MaxAttempts: cfg.ProvisionMaxAttempts,
		BackoffBase: cfg.ProvisionBackoffBase,
		BackoffMax:  cfg.ProvisionBackoffMax,
		SettleDelay: cfg.ProvisionSettleDelay,

		SignupBudget:    cfg.ProjectCreateBudget,
		ProjectLimit:    cfg.OpenAIProjectLimit,
		RequireApproval: cfg.RequireApproval(),
	}, m, logger)
	var guard policy.Client
	if client != nil {
		guard = client
	}
	pol := policy.New(pool, guard, policy.Settings{
		Enabled: cfg.Policy.Enabled, ReconcileInterval: cfg.Policy.ReconcileInterval, Autofix: cfg.Policy.Autofix,
		BackoffBase: cfg.ProvisionBackoffBase, BackoffMax: cfg.ProvisionBackoffMax,
	}, logger)
	// A job run may list projects and then create one.
	jobTimeout := 2*cfg.OpenAITimeout + 5*time.Second
	riverOpts := provision.ClientOptions{
		Work:            work,
		Workers:         cfg.ProvisionWorkers,
		JobTimeout:      jobTimeout,
		RescueAfter:     jobTimeout + 5*time.Second,
		Logger:          logger,
		CapacityRefresh: cfg.OpenAICapacityRefresh,
	}
	stopping := make(chan struct{})
	riverOpts.Backfill.Stopping = stopping
	keySvc, err := newKeyService(cfg, pool, client, logger)
	if err != nil {
		d.close()
		return nil, err
	}
	hooks, err := webhook.New(pool, cfg.WebhookURL, cfg.WebhookSecret, nil)
	if err != nil {
		d.close()
		return nil, fmt.Errorf("WEBHOOK_SECRET: %w", err)
	}
	// Every linking of a project enqueues the key step in its transaction,
	// and the webhooks of each step go out with what they report.
	prov.SetOnLinked(func(ctx context.Context, tx pgx.Tx, companyID int64, projectID string) error {
		if err := keySvc.EnqueueTx(ctx, tx, companyID, keys.TriggerProject); err != nil {
			return err
		}
		return hooks.Emit(ctx, tx, webhook.CompanyProvisioned, companyID, map[string]any{"project_id": projectID})
	})
	prov.SetOnFailed(func(ctx context.Context, tx pgx.Tx, companyID int64, reason string) error {
		return hooks.Emit(ctx, tx, webhook.CompanyFailed, companyID, map[string]any{"reason": reason})
	})
	// Offboarding revokes the company's stored keys through the keys
	// service first, so that they are marked revoked, audited and announced.
	pol.SetKeyRevoker(func(ctx context.Context, companyID int64, actor audit.Actor) (int, error) {
		n, err := keySvc.Revoke(ctx, companyID, actor)
		if errors.Is(err, keys.ErrNoKey) || errors.Is(err, keys.ErrDisabled) {
			return 0, nil
		}
		return n, err
	})
	keySvc.SetOnEvent(hooks.Emit)
	riverOpts.Register = func(w *river.Workers) {
		keySvc.Register(w, jobTimeout)
		hooks.Register(w)
		pol.Register(w)
	}
	riverOpts.Queues = map[string]river.QueueConfig{
		keys.QueueKeys:        {MaxWorkers: max(cfg.ProvisionWorkers, 1)},
		webhook.QueueWebhooks: {MaxWorkers: 4},
		policy.QueuePolicy:    {MaxWorkers: max(cfg.ProvisionWorkers, 1)},
	}
	riverOpts.PeriodicJobs = append(keys.PeriodicJobs(time.Hour), pol.PeriodicJobs()...)
	costs := newCostService(cfg, pool, usage, logger)
	riverOpts.Configure = cost.ConfigureRiver(costs, cfg.UsageSyncInterval, usageSyncTimeout, work)
	rc, err := provision.NewRiverClient(pool, prov, riverOpts)
	if err != nil {
		d.close()
		return nil, err
	}
	pol.SetRiver(rc)
	keySvc.SetRiver(rc)
	hooks.SetRiver(rc)
	companies := company.NewService(pool, rc, prov, cfg.SignupTimeout, logger)
	companies.SetOnCreated(func(ctx context.Context, tx pgx.Tx, companyID int64) error {
		return hooks.Emit(ctx, tx, webhook.CompanyCreated, companyID, nil)
	})
	costs.SetEnqueue(func(ctx context.Context, args cost.SyncArgs) error {
		_, err := rc.Insert(ctx, args, nil)
		return err
	})
	return &app{
		cfg: cfg, logger: logger, db: d, pool: pool, registry: registry, prov: prov, river: rc,
		companies: companies,
		auth:      authSvc,
		backfill:  provision.NewBackfiller(prov, rc, cfg.BackfillConcurrency),
		policy:    pol,
		keys:      keySvc,
		webhooks:  hooks,
		openai:    monitor,
		riverOpts: riverOpts,
		working:   work,
		costs:     costs,
		stopping:  stopping,
	}, nil
}

// close closes the database (and stops the private PostgreSQL when this
// process is the last one using it).
func (a *app) close() { a.db.close() }

// startJobs starts the River client if this process works jobs.
func (a *app) startJobs(ctx context.Context) error {
	if !a.working {
		return nil
	}
	// Jobs get their own context: a signal must let running jobs finish
	// (stopJobs), not cancel them outright.
	if err := a.river.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start jobs: %w", err)
	}
	return nil
}

// stopJobs lets running jobs finish until ctx ends, then cancels the rest;
// cancelled jobs are picked up again after a restart.
func (a *app) stopJobs(ctx context.Context) {
	if !a.working {
		return
	}
	a.stoppingOnce.Do(func() { close(a.stopping) })
	if err := a.river.Stop(ctx); err != nil {
		a.logger.Warn("jobs did not finish in time; cancelling them", slog.Any("error", err))
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.river.StopAndCancel(cctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			a.logger.Error("stop jobs", slog.Any("error", err))
		}
	}
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	noWorker := fs.Bool("no-worker", false, "serve without running background jobs")
	sandbox := fs.Bool("openai-sandbox", false, "simulate OpenAI in this process (demo mode): no real project is created")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return serve(ctx, getenv, stdout, stderr, serveOptions{work: !*noWorker, sandbox: *sandbox})
}

// serveOptions shape a serving process (serve, demo).
type serveOptions struct {
	work bool // run background jobs
	// sandbox simulates OpenAI in-process (demo.go) instead of calling it.
	sandbox bool
	// prepare, if set, runs once the database is migrated, before the
	// staff checks, the loading of the sandbox and anything is served.
	prepare func(ctx context.Context, a *app) error
	// ready, if set, is told the URL people can open once the server listens.
	ready func(url string)
}

// serve runs the web app (and the jobs) until ctx ends.
func serve(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer, o serveOptions) error {
	var sb *sandbox
	if o.sandbox {
		sb = startSandbox(getenv)
		defer sb.close()
		getenv = sb.getenv
	}
	a, err := setup(ctx, getenv, stderr, o.work)
	if err != nil {
		return err
	}
	defer a.close()
	if o.prepare != nil {
		if err := o.prepare(ctx, a); err != nil {
			return err
		}
	}
	if err := a.prepareStaff(ctx); err != nil {
		return err
	}
	if sb != nil {
		if err := sb.load(ctx, a); err != nil {
			return err
		}
	}
	setupToken, err := a.setupToken(ctx)
	if err != nil {
		return err
	}

	// River's own job dashboard, for admins, at /admin/jobs.
	jobsUI, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(a.river, nil), Logger: a.logger, Prefix: web.JobsPrefix,
	})
	if err != nil {
		return fmt.Errorf("job dashboard: %w", err)
	}
	if err := jobsUI.Start(ctx); err != nil {
		return fmt.Errorf("job dashboard: %w", err)
	}
	srv := web.NewServer(web.Deps{
		Config: a.cfg, Logger: a.logger, Pool: a.pool, Companies: a.companies, Auth: a.auth, Backfill: a.backfill,
		Policy: a.policy, Keys: a.keys, Tokens: apitoken.New(a.pool, a.cfg.APITokenRateLimit), Webhooks: a.webhooks,
		OpenAI: a.openai, OpenAIPace: a.openAIPace(), Costs: a.costs,
		Gatherer: a.registry, Sandbox: sb != nil, SetupToken: setupToken, JobsUI: jobsUI,
	})
	if err := a.startJobs(ctx); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		errc <- srv.Serve(func(addr string) {
			a.logger.Info("serving", slog.String("addr", addr), slog.Bool("worker", a.working))
			fmt.Fprintf(stdout, "Provisioner is listening on http://%s\n", displayAddr(addr))
			if setupToken != "" {
				fmt.Fprintf(stdout, "First run: create the first admin at http://%s/setup?token=%s\n", displayAddr(addr), setupToken)
			}
			if o.ready != nil {
				o.ready("http://" + displayAddr(addr))
			}
		})
	}()
	select {
	case err := <-errc:
		a.stopJobs(context.Background())
		return err
	case <-ctx.Done():
	}
	a.logger.Info("shutting down", slog.Duration("timeout", a.cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		a.logger.Warn("requests did not finish in time", slog.Any("error", err))
	}
	a.stopJobs(sctx)
	a.logger.Info("stopped")
	return nil
}

// prepareStaff warns about a made-up session secret and creates the first
// admin from ADMIN_EMAIL / ADMIN_PASSWORD when there are no staff users.
func (a *app) prepareStaff(ctx context.Context) error {
	if a.cfg.SessionSecretEphemeral {
		a.logger.Warn("⚠️ SESSION_SECRET is not set: using a random one, so staff sessions end when the process stops")
	}
	if a.cfg.AdminEmail != "" {
		created, err := a.auth.CreateFirstAdmin(ctx, audit.Actor{Email: "ADMIN_EMAIL at start-up"}, a.cfg.AdminEmail, a.cfg.AdminPassword)
		var problems auth.ValidationError
		if errors.As(err, &problems) {
			return fmt.Errorf("ADMIN_EMAIL / ADMIN_PASSWORD: %s", describe(problems))
		}
		if err != nil {
			return err
		}
		if created {
			a.logger.Info("created the first admin from ADMIN_EMAIL", slog.String("email", a.cfg.AdminEmail))
		}
	}
	return nil
}

// setupToken returns a new random token for the first-run setup page when
// there are no staff users yet, and "" otherwise. It lives in this
// process's memory only: a restart prints a new link, and the page is
// gone once the first admin exists.
func (a *app) setupToken(ctx context.Context) (string, error) {
	n, err := a.auth.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	return rand.Text(), nil
}

func runWorker(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := setup(ctx, getenv, stderr, true)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.startJobs(ctx); err != nil {
		return err
	}
	a.logger.Info("worker running")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	a.stopJobs(sctx)
	a.logger.Info("stopped")
	return nil
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, d, _, err := openConfigured(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer d.close()
	fmt.Fprintln(stdout, "database is up to date")
	return nil
}

// displayAddr turns ":8080" into "localhost:8080" for people to click.
func displayAddr(addr string) string {
	for _, any := range []string{"[::]:", "0.0.0.0:", ":"} {
		if rest, ok := strings.CutPrefix(addr, any); ok {
			return "localhost:" + rest
		}
	}
	return addr
}
