// Package metrics holds the Prometheus collectors Provisioner exports on
// /metrics. Counters and histograms are fed by the packages that do the work;
// gauges about stored state are read from the database at scrape time, so
// every replica reports the same numbers.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the collectors the application updates as it works.
type Metrics struct {
	Attempts      *prometheus.CounterVec
	OpenAILatency *prometheus.HistogramVec
	// GovernorWait is how long calls waited for the rate governor, by
	// priority; OpenAICalls and RateLimited count answers by caller.
	GovernorWait *prometheus.HistogramVec
	OpenAICalls  *prometheus.CounterVec
	RateLimited  *prometheus.CounterVec
}

// New registers the application's collectors on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "provisioner_provision_attempts_total",
			Help: "Provisioning attempts by outcome (created, linked, skipped, retryable, uncertain, failed).",
		}, []string{"outcome"}),
		OpenAILatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "provisioner_openai_request_duration_seconds",
			Help:    "Latency of requests to OpenAI's Admin API by endpoint and HTTP status (0: no answer).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint", "status"}),
	}
	m.GovernorWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "provisioner_openai_governor_wait_seconds",
		Help:    "Time calls to OpenAI waited for the rate governor, by priority (interactive, background).",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"priority"})
	m.OpenAICalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "provisioner_openai_calls_total",
		Help: "Answers from OpenAI by caller (signup, manual, assign, job, backfill, capacity, keys, policy, reconcile, offboard, usage, other).",
	}, []string{"caller"})
	m.RateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "provisioner_openai_rate_limited_total",
		Help: "Calls OpenAI refused with 429, by caller (signup, manual, assign, job, backfill, capacity, keys, policy, reconcile, offboard, usage, other).",
	}, []string{"caller"})
	reg.MustRegister(m.Attempts, m.OpenAILatency, m.GovernorWait, m.OpenAICalls, m.RateLimited)
	return m
}

// ObserveGovernorWait records a call's wait for the rate governor; it fits
// governor.Options.OnWait through a priority name.
func (m *Metrics) ObserveGovernorWait(priority string, d time.Duration) {
	if m == nil {
		return
	}
	m.GovernorWait.WithLabelValues(priority).Observe(d.Seconds())
}

// ObserveOpenAIAnswer counts an answer from OpenAI (status 0: none came)
// for caller; it fits governor.Options.OnAnswer.
func (m *Metrics) ObserveOpenAIAnswer(caller string, status int) {
	if m == nil || status == 0 {
		return
	}
	m.OpenAICalls.WithLabelValues(caller).Inc()
	if status == http.StatusTooManyRequests {
		m.RateLimited.WithLabelValues(caller).Inc()
	}
}

// GovernorReading is what the rate governor reports at scrape time.
type GovernorReading struct {
	// Rate is the calls per second allowed now, Limit the limit learnt
	// (0 until known), MaxRate OPENAI_MAX_RPS (0: none).
	Rate, Limit, MaxRate float64
	// Waiting is the calls of this process waiting, by priority name.
	Waiting map[string]int
}

// RegisterGovernor registers gauges read from the rate governor on scrape.
func RegisterGovernor(reg prometheus.Registerer, read func() GovernorReading) {
	reg.MustRegister(&governorCollector{
		read:    read,
		rate:    prometheus.NewDesc("provisioner_openai_governor_rate", "Calls per second the OpenAI rate governor allows now (shared by every process).", nil, nil),
		limit:   prometheus.NewDesc("provisioner_openai_governor_learned_limit", "Calls per second OpenAI was learnt to allow (0 until it refused a call or announced its limit).", nil, nil),
		max:     prometheus.NewDesc("provisioner_openai_governor_max_rate", "OPENAI_MAX_RPS (0: no cap).", nil, nil),
		waiting: prometheus.NewDesc("provisioner_openai_governor_waiting", "Calls of this process waiting for the rate governor, by priority.", []string{"priority"}, nil),
	})
}

type governorCollector struct {
	read                      func() GovernorReading
	rate, limit, max, waiting *prometheus.Desc
}

func (c *governorCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.rate
	ch <- c.limit
	ch <- c.max
	ch <- c.waiting
}

func (c *governorCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.read()
	ch <- prometheus.MustNewConstMetric(c.rate, prometheus.GaugeValue, r.Rate)
	ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, r.Limit)
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, r.MaxRate)
	for p, n := range r.Waiting {
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(n), p)
	}
}

// ObserveOpenAI records one exchange with OpenAI; it fits openai.Options.Observe.
func (m *Metrics) ObserveOpenAI(endpoint string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.OpenAILatency.WithLabelValues(endpoint, strconv.Itoa(status)).Observe(d.Seconds())
}

// Attempt counts one finished provisioning attempt.
func (m *Metrics) Attempt(outcome string) {
	if m == nil {
		return
	}
	m.Attempts.WithLabelValues(outcome).Inc()
}

// jobStates are River's job states.
var jobStates = []string{"available", "scheduled", "pending", "running", "retryable", "completed", "cancelled", "discarded"}

// dbCollector reads job and company gauges from the database on scrape.
type dbCollector struct {
	pool    *pgxpool.Pool
	logger  *slog.Logger
	jobs    *prometheus.Desc
	missing *prometheus.Desc
	status  *prometheus.Desc
}

// RegisterDBCollector registers gauges read from the database at scrape
// time: River jobs by state and companies by provisioning status.
func RegisterDBCollector(reg prometheus.Registerer, pool *pgxpool.Pool, logger *slog.Logger) {
	reg.MustRegister(&dbCollector{
		pool:    pool,
		logger:  logger,
		jobs:    prometheus.NewDesc("provisioner_jobs", "Provisioning jobs by state (available, scheduled, running, retryable, completed, discarded, cancelled).", []string{"kind", "state"}, nil),
		missing: prometheus.NewDesc("provisioner_companies_without_project", "Companies that have no OpenAI project ID.", nil, nil),
		status:  prometheus.NewDesc("provisioner_companies", "Companies by provisioning status.", []string{"status"}, nil),
	})
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.missing
	ch <- c.status
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Every state is reported, zero included, so that alerts on "failed
	// jobs > 0" have a series to watch from the start.
	type key struct{ kind, state string }
	counts := map[key]int64{}
	for _, st := range jobStates {
		counts[key{"provision_project", st}] = 0
	}
	rows, err := c.pool.Query(ctx, `SELECT kind, state::text, count(*) FROM river_job GROUP BY kind, state`)
	if err == nil {
		for rows.Next() {
			var kind, state string
			var n int64
			if rows.Scan(&kind, &state, &n) == nil {
				counts[key{kind, state}] = n
			}
		}
		rows.Close()
		err = rows.Err()
	}
	if err != nil {
		c.logger.Warn("metrics: read jobs", slog.Any("error", err))
	} else {
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), k.kind, k.state)
		}
	}
	rows, err = c.pool.Query(ctx, `SELECT provisioning_status, count(*), count(*) FILTER (WHERE openai_project_id IS NULL) FROM companies GROUP BY 1`)
	if err != nil {
		c.logger.Warn("metrics: read companies", slog.Any("error", err))
		return
	}
	defer rows.Close()
	var missing int64
	for rows.Next() {
		var status string
		var n, m int64
		if rows.Scan(&status, &n, &m) == nil {
			ch <- prometheus.MustNewConstMetric(c.status, prometheus.GaugeValue, float64(n), status)
			missing += m
		}
	}
	if rows.Err() == nil {
		ch <- prometheus.MustNewConstMetric(c.missing, prometheus.GaugeValue, float64(missing))
	}
}
