// Package cost says what each company costs: it syncs OpenAI's daily costs
// (by project and line item) and completions usage (by project and model)
// into PostgreSQL, attributes them to companies, and builds the dashboard's
// figures and the monthly statements. It knows nothing of HTTP.
//
// Rules:
//
//   - Money is exact. Amounts are OpenAI's decimal text, stored as NUMERIC
//     and computed with shopspring/decimal; nothing is rounded except a
//     statement's billable amount (to the cent, half to even).
//   - The sync is incremental and idempotent. The first one reads
//     HistoryDays; later ones read from the last synced day, re-reading
//     the trailing ResyncDays because OpenAI's recent days still change.
//     Rows are upserted only where a value differs, so a re-run over
//     unchanged data writes no row. Every page is followed; after each
//     page its rows and the next page's cursor are committed together, so
//     a run cut short (crash, deploy, 5xx) is resumed from that cursor by
//     the next run. A session advisory lock keeps two processes from
//     syncing at once; the loser answers ErrSyncRunning.
//   - Attribution: a day's cost of a project belongs to the company that
//     held the project last during that day (project_assignments, filled
//     by triggers on companies whatever path changes the ID). Re-assigning
//     a project does not move its past costs. Costs of projects no company
//     held are unattributed, never dropped: statements and totals show
//     them.
//   - An unknown line item or currency is stored and shown as given.
//     Month-to-date columns and the company list sort count "usd" (OpenAI
//     bills in usd); statements keep one row per company and currency.
package cost

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/openai"
)

// BillingCurrency is the currency of month-to-date columns and sorting.
const BillingCurrency = "usd"

// Settings tune the sync and the statements.
type Settings struct {
	// HistoryDays is how far back the first sync reads (COST_HISTORY_DAYS).
	HistoryDays int
	// ResyncDays is how many trailing days every sync reads again
	// (COST_RESYNC_DAYS).
	ResyncDays int
	// MarkupPercent is the default markup of statements (MARKUP_PERCENT).
	MarkupPercent string
	// CostPageBuckets and UsagePageBuckets are the buckets asked per page
	// (OpenAI's maxima are 180 and 31).
	CostPageBuckets, UsagePageBuckets int
	// MaxRateLimitWaits bounds how many 429s one run waits out before it
	// gives up (and leaves its cursor for the next run).
	MaxRateLimitWaits int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (s Settings) withDefaults() Settings {
	if s.HistoryDays <= 0 {
		s.HistoryDays = 90
	}
	if s.ResyncDays < 0 {
		s.ResyncDays = 0
	}
	if s.MarkupPercent == "" {
		s.MarkupPercent = "0"
	}
	if s.CostPageBuckets <= 0 || s.CostPageBuckets > 180 {
		s.CostPageBuckets = 31
	}
	if s.UsagePageBuckets <= 0 || s.UsagePageBuckets > 31 {
		s.UsagePageBuckets = 31
	}
	if s.MaxRateLimitWaits <= 0 {
		s.MaxRateLimitWaits = 10
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return s
}

// Service syncs and reports costs.
type Service struct {
	pool     *pgxpool.Pool
	q        *dbgen.Queries
	usage    openai.Usage // nil when no admin key is configured
	settings Settings
	logger   *slog.Logger
	// sleep waits out a 429 (tests shorten it).
	sleep func(d time.Duration, done <-chan struct{}) bool
	// statementBatch is the rows a statement reads at a time.
	statementBatch int
	enqueue        func(ctx context.Context, args SyncArgs) error // job.go
}

// New returns a Service. usage may be nil (no admin key): the sync then
// answers ErrNotConfigured, and the reports show what is stored.
func New(pool *pgxpool.Pool, usage openai.Usage, settings Settings, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		pool: pool, q: dbgen.New(pool), usage: usage, settings: settings.withDefaults(), logger: logger,
		sleep: sleepCtx, statementBatch: defaultStatementBatch,
	}
}

// Errors of the package.
var (
	// ErrSyncRunning: another process (or goroutine) is syncing now.
	ErrSyncRunning = errors.New("cost: a usage sync is already running")
	// ErrNotConfigured: no OpenAI admin key, nothing to sync from.
	ErrNotConfigured = errors.New("cost: no OpenAI admin key is configured")
)

func sleepCtx(d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// day is t's UTC day.
func day(t time.Time) time.Time { return openai.Day(t) }

// monthOf is the first day of t's month.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}
