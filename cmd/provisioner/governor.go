package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/provisioner/provisioner/internal/config"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/metrics"
)

// startGovernor starts the process's OpenAI rate governor, on the
// organization's shared row in the database, and its metrics.
func (d *database) startGovernor(ctx context.Context, cfg config.Config, m *metrics.Metrics, reg prometheus.Registerer, logger *slog.Logger) error {
	// A pool of its own: callers waiting for a slot hold connections of
	// the main pool (a company's advisory lock), and must not keep the
	// governor from reserving the slots they wait for.
	pc := d.pool.Config().Copy()
	pc.MaxConns, pc.MinConns = 2, 1
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return fmt.Errorf("openai governor: %w", err)
	}
	p := governor.Params{MaxRate: cfg.OpenAIMaxRPS}
	store := governor.NewPostgresStore(pool, governor.OrgKey(cfg.OpenAIAdminKey, cfg.OpenAIOrgID), p)
	d.govPool = pool
	d.gov = governor.New(store, governor.Options{
		Params: p, Logger: logger,
		OnWait:   func(pr governor.Priority, w time.Duration) { m.ObserveGovernorWait(pr.String(), w) },
		OnAnswer: m.ObserveOpenAIAnswer,
	})
	metrics.RegisterGovernor(reg, func() metrics.GovernorReading {
		st := d.gov.Status()
		return metrics.GovernorReading{
			Rate: st.Rate, Limit: st.Limit, MaxRate: st.MaxRate,
			Waiting: map[string]int{
				governor.Interactive.String(): st.Waiting[governor.Interactive],
				governor.Background.String():  st.Waiting[governor.Background],
			},
		}
	})
	return nil
}

// openAIPace reports the governor's pace to the dashboard; nil without an
// admin key.
func (a *app) openAIPace() func() governor.Status {
	if a.db.gov == nil {
		return nil
	}
	return a.db.gov.Status
}
