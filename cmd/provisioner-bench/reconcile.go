package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// The reconcile scenario's OpenAI is the backfill's: 100 ms an answer and
// 100 requests a second.
const reconcileRateLimit = backfillRateLimit

// reconcilePolicy sets every key, so that reconcile reads every guard rail:
// the project, model permissions, rate limits, alerts and the spend limit.
const reconcilePolicy = `{"spend_limit_cents": 50000, "alerts": [{"threshold_cents": 40000, "recipients": ["ops@example.com"]}], "rate_limits": {"gpt-4o-mini": {"max_requests_per_1_minute": 500}}, "allowed_models": ["gpt-4o-mini"]}`

var reconcileLine = regexp.MustCompile(`Checked (\d+) projects .*\(([0-9.]+) OpenAI calls each\).* (\d+) could not be checked`)

// reconcileScenario runs `provisioner reconcile` over linked projects
// against the rate-limited fake and reports the rate it reached.
func (b *bench) reconcileScenario(ctx context.Context) error {
	n := b.sizes.Reconcile
	fake := openaitest.New(openaitest.Options{AdminKey: benchKey, Latency: backfillLatency, RateLimit: reconcileRateLimit})
	defer fake.Close()
	dbURL, drop, err := b.scratchDB(ctx, "reconcile")
	if err != nil {
		return err
	}
	defer drop()
	pool, err := openPool(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	rows := make([][]any, n)
	for i := range n {
		p := fake.AddProject(companyName(i), false)
		rows[i] = []any{companyName(i), "Software", "Bench", "bench@example.com", "provisioned", p.ID}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"companies"},
		[]string{"name", "industry", "contact_name", "contact_email", "provisioning_status", "openai_project_id"},
		pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	// The link trigger made every policy pending; mark them applied, as
	// after a first apply, so that reconcile records their drift.
	if _, err := pool.Exec(ctx, `UPDATE company_policies cp SET state = 'applied', project_name = c.name
		FROM companies c WHERE c.id = cp.company_id`); err != nil {
		return err
	}
	env := append(os.Environ(), "APP_ENV=test", "DATABASE_URL="+dbURL, "OPENAI_ADMIN_KEY="+benchKey, "OPENAI_BASE_URL="+fake.URL)
	set := exec.CommandContext(ctx, b.bin, "policy", "set", "-")
	set.Env = env
	set.Stdin = strings.NewReader(reconcilePolicy)
	if out, err := set.CombinedOutput(); err != nil {
		return fmt.Errorf("policy set: %v\n%s", err, out)
	}
	before, limitedBefore := len(fake.Requests()), fake.RateLimited()
	start := time.Now()
	cmd := exec.CommandContext(ctx, b.bin, "reconcile")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		return fmt.Errorf("reconcile: %v\n%s", err, out)
	}
	m := reconcileLine.FindSubmatch(out)
	if m == nil {
		return fmt.Errorf("reconcile printed no summary:\n%s", out)
	}
	checked, _ := strconv.Atoi(string(m[1]))
	perProject, _ := strconv.ParseFloat(string(m[2]), 64)
	failed, _ := strconv.Atoi(string(m[3]))
	requests, limited := len(fake.Requests())-before, fake.RateLimited()-limitedBefore
	accepted := requests - limited
	rate := float64(accepted) / took.Seconds()
	b.logf("reconcile: %d projects in %v, %.1f accepted calls/s, %.1f calls/project, %d 429s, %d unchecked", checked, took.Round(time.Millisecond), rate, perProject, limited, failed)
	b.report.add(section{
		title: "Reconcile against a rate-limited OpenAI",
		rows: []row{
			{What: "Accepted calls", Value: rate, Unit: "requests/s", Limit: 0.9 * reconcileRateLimit, Better: "higher", Note: fmt.Sprintf("limit: 0.9 × the allowed %d requests/s", reconcileRateLimit)},
			{What: "Calls per project", Value: perProject, Unit: "calls", Limit: 5, Better: "lower", Note: "project, model permissions, rate limits, alerts, spend limit"},
			{What: "Projects checked", Value: float64(checked), Limit: float64(n), Better: "higher"},
			{What: "Projects that could not be checked", Value: float64(failed), Limit: 0, Better: "lower"},
		},
		notes: []string{
			fmt.Sprintf("%s linked companies, each with its own project on the fake OpenAI (%v an answer, %d requests/s, 429 with Retry-After: 1 beyond). `provisioner reconcile` runs as its own process with a policy that sets every key; %d requests were sent in %v, %d of them answered 429.",
				groupThousands(n), backfillLatency, reconcileRateLimit, requests, took.Round(time.Millisecond), limited),
			"Reconcile checks 10 projects at once (policy.Settings.ReconcileConcurrency); pacing below OpenAI's limit is the shared rate governor's job (issue 11), which the reconcile process goes through like every caller.",
		},
	})
	return nil
}
