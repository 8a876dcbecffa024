package policy

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

const testKey = "sk-admin-TESTKEYpolicy1234"

var admin = audit.Actor{ID: 0, Email: "admin@example.com"}

type bundle struct {
	ctx     context.Context
	pool    *pgxpool.Pool
	fake    *openaitest.Server
	client  *openai.Client
	gov     *openaitest.RecordingGovernor
	svc     *Service
	rc      *river.Client[pgx.Tx]
	checker *openaitest.SpecChecker
}

// setup gives a test its own database, a fake OpenAI (behind the spec
// checker when OPENAI_SPEC is set) and a Service with an insert-only River
// client; drain works the queued jobs with the real workers.
func setup(t *testing.T, tweak func(*Settings)) *bundle {
	t.Helper()
	pool := dbtest.NewPool(t)
	fake := openaitest.New(openaitest.Options{AdminKey: testKey})
	t.Cleanup(fake.Close)
	var transport http.RoundTripper = http.DefaultTransport
	var checker *openaitest.SpecChecker
	if path := os.Getenv("OPENAI_SPEC"); path != "" {
		c, err := openaitest.NewSpecChecker(path)
		if err != nil {
			t.Fatalf("OPENAI_SPEC=%s: %v", path, err)
		}
		checker, transport = c, c.Transport(http.DefaultTransport)
		t.Cleanup(func() {
			if v := c.Violations(); len(v) > 0 {
				t.Errorf("%d spec violations:\n%s", len(v), strings.Join(v, "\n"))
			}
		})
	}
	gov := openaitest.NewRecordingGovernor(t, 0)
	client, err := openai.New(openai.Options{AdminKey: testKey, BaseURL: fake.URL, Timeout: 5 * time.Second,
		HTTPClient: &http.Client{Transport: transport}, Governor: gov})
	if err != nil {
		t.Fatal(err)
	}
	s := Settings{Enabled: true, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond, MaxAttempts: 3}
	if tweak != nil {
		tweak(&s)
	}
	svc := New(pool, client, s, nil)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetRiver(rc)
	return &bundle{ctx: context.Background(), pool: pool, fake: fake, client: client, gov: gov, svc: svc, rc: rc, checker: checker}
}

// company creates a company and links a new fake project to it through the
// same UPDATE the provisioning uses.
func (b *bundle) company(t *testing.T, name string) (int64, string) {
	t.Helper()
	q := dbgen.New(b.pool)
	c, err := q.CreateCompany(b.ctx, dbgen.CreateCompanyParams{Name: name, Industry: "Software", ContactName: "Ada",
		ContactEmail: "ada@example.com", ProvisioningStatus: "pending"})
	if err != nil {
		t.Fatal(err)
	}
	p := b.fake.AddProject(name, false)
	if _, err := q.LinkCompanyProject(b.ctx, dbgen.LinkCompanyProjectParams{ID: c.ID, ProjectID: &p.ID}); err != nil {
		t.Fatal(err)
	}
	return c.ID, p.ID
}

// drain works every available policy job with the real workers, as a
// worker process would, until none is left; it returns how many ran.
func (b *bundle) drain(t *testing.T, svc *Service) int {
	t.Helper()
	ran := 0
	for range 200 {
		var id int64
		var kind string
		var args []byte
		var attempt, maxAttempts int
		err := b.pool.QueryRow(b.ctx, `SELECT id, kind, args, attempt, max_attempts FROM river_job
			WHERE queue = $1 AND state IN ('available', 'scheduled', 'retryable') ORDER BY id LIMIT 1`, QueuePolicy).
			Scan(&id, &kind, &args, &attempt, &maxAttempts)
		if err == pgx.ErrNoRows {
			return ran
		}
		if err != nil {
			t.Fatal(err)
		}
		row := &rivertype.JobRow{ID: id, Kind: kind, Attempt: attempt + 1, MaxAttempts: maxAttempts}
		var werr error
		switch kind {
		case ApplyArgs{}.Kind():
			var a ApplyArgs
			_ = json.Unmarshal(args, &a)
			werr = (&ApplyWorker{s: svc}).Work(b.ctx, &river.Job[ApplyArgs]{JobRow: row, Args: a})
		case OffboardArgs{}.Kind():
			var a OffboardArgs
			_ = json.Unmarshal(args, &a)
			werr = (&OffboardWorker{s: svc}).Work(b.ctx, &river.Job[OffboardArgs]{JobRow: row, Args: a})
		default:
			t.Fatalf("unexpected job kind %s", kind)
		}
		ran++
		state := "completed"
		if werr != nil {
			var snooze *river.JobSnoozeError
			var cancel *river.JobCancelError
			switch {
			case asErr(werr, &snooze):
				state = "available" // run it again at once: backoffs are tiny in tests
			case asErr(werr, &cancel):
				state = "cancelled"
			case attempt+1 >= maxAttempts:
				state = "discarded"
			default:
				state = "retryable"
			}
		}
		if _, err := b.pool.Exec(b.ctx, `UPDATE river_job SET state = $2::river_job_state, attempt = attempt + 1,
			finalized_at = CASE WHEN $2::text IN ('completed','cancelled','discarded') THEN now() END WHERE id = $1`, id, state); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("jobs keep coming")
	return ran
}

func (b *bundle) setTemplate(t *testing.T, js string) {
	t.Helper()
	d, err := Parse([]byte(js))
	if err != nil {
		t.Fatalf("parse %s: %v", js, err)
	}
	if _, _, err := b.svc.SetTemplate(b.ctx, d, admin); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) status(t *testing.T, id int64) Status {
	t.Helper()
	st, err := b.svc.Status(b.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// applyNow sweeps and drains, the way the periodic sweep and workers do.
func (b *bundle) applyNow(t *testing.T) {
	t.Helper()
	if _, err := b.svc.Sweep(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.drain(t, b.svc)
}

func asErr[T error](err error, target *T) bool {
	for e := err; e != nil; {
		if v, ok := e.(T); ok {
			*target = v
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

const fullPolicy = `{"spend_limit_cents": 50000,
 "alerts": [{"threshold_cents": 40000, "recipients": ["ops@example.com"]}, {"threshold_cents": 45000, "recipients": ["fin@example.com", "ops@example.com"]}],
 "rate_limits": {"gpt-4o-mini": {"max_requests_per_1_minute": 500, "max_tokens_per_1_minute": 200000}},
 "allowed_models": ["gpt-4o-mini", "gpt-4.1"]}`
