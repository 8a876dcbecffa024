// Package testenv builds the provisioning stack that tests share, the way
// River's riversharedtest does: a fresh migrated database, the fake OpenAI
// behind the real client (checked against $OPENAI_SPEC), a Provisioner, a
// River client and the company service, all wired as cmd/provisioner wires
// them. Each package's setup helper is a thin wrapper over New that keeps
// its own defaults; company rows come from dbtest.InsertCompany.
//
// Tests inside package provision cannot import testenv (it imports
// provision); they build on dbtest and openaitest.Server.NewClient, the two
// layers below it.
package testenv

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/metrics"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/provision"
)

// AdminKey is the fake OpenAI's admin key unless Options.AdminKey is set.
const AdminKey = "sk-admin-fake-testenv"

// Options tune New. Zero fields take the defaults given.
type Options struct {
	// Pool is the database to use; default a fresh one from dbtest.
	Pool *pgxpool.Pool
	// AdminKey is the fake's (and the client's) admin key; default AdminKey.
	AdminKey string
	// NoKey leaves the Provisioner without an OpenAI client (no admin key
	// configured). The fake still runs.
	NoKey bool
	// OpenAITimeout bounds one OpenAI request; default 3 s.
	OpenAITimeout time.Duration
	// Logger defaults to t.Log.
	Logger *slog.Logger
	// Settings default to fast retries: 5 attempts, backoff 20–200 ms,
	// settle 300 ms, busy lock wait 50 ms.
	Settings provision.Settings
	// SignupTimeout is the company service's; default 2 s.
	SignupTimeout time.Duration
	// River configures the River client (its Logger is Logger). Work also
	// starts it, and stops it when the test ends. Defaults: Workers 4,
	// JobTimeout 15 s, RescueAfter 20 s.
	River provision.ClientOptions
	// BackfillConcurrency is the Backfiller's; default 4.
	BackfillConcurrency int
}

// Env is one "process" of the app's domain side on its own database.
type Env struct {
	Pool     *pgxpool.Pool
	Fake     *openaitest.Server
	Spec     *openaitest.SpecChecker // nil unless OPENAI_SPEC is set and NoKey is not
	OpenAI   *openai.Client          // nil when NoKey
	Registry *prometheus.Registry
	Metrics  *metrics.Metrics
	Logger   *slog.Logger

	Prov      *provision.Provisioner
	River     *river.Client[pgx.Tx]
	Driver    *riverpgxv5.Driver
	Companies *company.Service
	Backfill  *provision.Backfiller

	jobTimeout time.Duration
}

// New builds the stack for t; everything it starts stops when t ends.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	if o.Pool == nil {
		o.Pool = dbtest.NewPool(t)
	}
	if o.AdminKey == "" {
		o.AdminKey = AdminKey
	}
	if o.OpenAITimeout == 0 {
		o.OpenAITimeout = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(TestWriter{t}, nil))
	}
	if o.Settings.MaxAttempts == 0 {
		// Fast retries by default; the safeguards' fields stay as given.
		o.Settings.MaxAttempts, o.Settings.BackoffBase, o.Settings.BackoffMax = 5, 20*time.Millisecond, 200*time.Millisecond
		o.Settings.SettleDelay, o.Settings.LockWaitBusy = 300*time.Millisecond, 50*time.Millisecond
	}
	if o.SignupTimeout == 0 {
		o.SignupTimeout = 2 * time.Second
	}
	if o.River.Workers == 0 {
		o.River.Workers = 4
	}
	if o.River.JobTimeout == 0 {
		o.River.JobTimeout = 15 * time.Second
	}
	if o.River.RescueAfter == 0 {
		o.River.RescueAfter = 20 * time.Second
	}
	if o.BackfillConcurrency == 0 {
		o.BackfillConcurrency = 4
	}
	o.River.Logger = o.Logger

	e := &Env{Pool: o.Pool, Logger: o.Logger, Registry: prometheus.NewRegistry(), jobTimeout: o.River.JobTimeout}
	e.Metrics = metrics.New(e.Registry)
	metrics.RegisterDBCollector(e.Registry, e.Pool, e.Logger)
	e.Fake = openaitest.New(openaitest.Options{AdminKey: o.AdminKey})
	t.Cleanup(e.Fake.Close)
	var projects openai.Projects // a nil *openai.Client must stay a nil interface
	if !o.NoKey {
		e.OpenAI, e.Spec = e.Fake.NewClient(t, openai.Options{AdminKey: o.AdminKey, Timeout: o.OpenAITimeout, Observe: e.Metrics.ObserveOpenAI})
		projects = e.OpenAI
	}
	e.Prov = provision.New(e.Pool, projects, o.Settings, e.Metrics, e.Logger)
	rc, err := provision.NewRiverClient(e.Pool, e.Prov, o.River)
	if err != nil {
		t.Fatal(err)
	}
	e.River, e.Driver = rc, riverpgxv5.New(e.Pool)
	if o.River.Work {
		StartRiver(t, rc)
	}
	e.Companies = company.NewService(e.Pool, rc, e.Prov, o.SignupTimeout, e.Logger)
	e.Backfill = provision.NewBackfiller(e.Prov, rc, o.BackfillConcurrency)
	return e
}

// StartRiver starts rc and stops it (cancelling running jobs) when t ends.
func StartRiver(t testing.TB, rc *river.Client[pgx.Tx]) {
	t.Helper()
	if err := rc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rc.StopAndCancel(ctx)
	})
}

// WorkProjectJob works the inserted provisioning job id once with
// rivertest, without a running client: what a test means when it asks
// "what does the job do", not "how do jobs race". The job's state changes
// are committed, like a real client's.
func (e *Env) WorkProjectJob(ctx context.Context, t testing.TB, id int64) *rivertest.WorkResult {
	t.Helper()
	job, err := e.River.JobGet(ctx, id)
	if err != nil {
		t.Fatalf("get job %d: %v", id, err)
	}
	w := rivertest.NewWorker(t, e.Driver, &river.Config{Logger: e.Logger}, provision.NewProjectWorker(e.Prov, e.jobTimeout, e.Logger))
	var res *rivertest.WorkResult
	err = pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error {
		var err error
		res, err = w.WorkJob(ctx, t, tx, job)
		return err
	})
	if err != nil {
		t.Fatalf("work job %d: %v", id, err)
	}
	return res
}

// TestWriter sends log lines to t.Log, so a failing test shows them.
type TestWriter struct{ T testing.TB }

func (w TestWriter) Write(p []byte) (int, error) {
	w.T.Helper()
	w.T.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
