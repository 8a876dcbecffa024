package cost

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/testclock"
)

const testKey = "sk-admin-costtest"

type bundle struct {
	pool    *pgxpool.Pool
	fake    *openaitest.Server
	client  *openai.Client
	gov     *openaitest.RecordingGovernor
	checker *openaitest.SpecChecker
	clock   *testclock.Clock
	svc     *Service
}

// setup gives a test its database, a fake OpenAI (checked against the
// spec when OPENAI_SPEC is set; a missing file fails), a clock at
// 2026-11-20 12:00 UTC and a Service.
func setup(t *testing.T, settings Settings) *bundle {
	t.Helper()
	b := &bundle{pool: dbtest.NewPool(t), clock: testclock.New(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))}
	b.fake = openaitest.New(openaitest.Options{AdminKey: testKey})
	t.Cleanup(b.fake.Close)
	b.fake.SetNow(b.clock.Now)
	b.gov = openaitest.NewRecordingGovernor(t, 0)
	client, checker := b.fake.NewClient(t, openai.Options{AdminKey: testKey, Governor: b.gov})
	b.client, b.checker = client, checker
	settings.Now = b.clock.Now
	b.svc = New(b.pool, client, settings, nil)
	b.svc.sleep = func(time.Duration, <-chan struct{}) bool { return true }
	return b
}

// addCompany inserts a company holding projectID ("" for none) and
// returns its id.
func (b *bundle) addCompany(t *testing.T, name, projectID string) int64 {
	t.Helper()
	var pid *string
	if projectID != "" {
		pid = &projectID
		b.fake.AddProjectWithID(projectID, name)
	}
	var id int64
	err := b.pool.QueryRow(context.Background(), `
		INSERT INTO companies (name, industry, contact_name, contact_email, openai_project_id, provisioning_status)
		VALUES ($1, 'Software', 'Ann', 'ann@example.com', $2, CASE WHEN $2::text IS NULL THEN 'pending' ELSE 'provisioned' END)
		RETURNING id`, name, pid).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	// Held since long before any synced day.
	b.exec(t, `UPDATE project_assignments SET valid_from = '2020-01-01' WHERE company_id = $1`, id)
	return id
}

func (b *bundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := b.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (b *bundle) sync(t *testing.T) Run {
	t.Helper()
	r, err := b.svc.Sync(context.Background(), SyncOptions{Trigger: TriggerCLI})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// storedTotal sums cost_daily over [from, to).
func (b *bundle) storedTotal(t *testing.T, from, to time.Time) decimal.Decimal {
	t.Helper()
	var s decimal.Decimal
	if err := b.pool.QueryRow(context.Background(),
		`SELECT coalesce(sum(amount), 0) FROM cost_daily WHERE day >= $1 AND day < $2`, from, to).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (b *bundle) count(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := b.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func mustDay(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}
