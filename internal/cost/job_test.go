package cost

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// TestSyncJob: the River job runs the sync; a second request while one is
// queued is a duplicate; the periodic job is registered with an interval.
func TestSyncJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, Settings{HistoryDays: 10})
	b.addCompany(t, "Acme", "proj_acme")
	cfg := &river.Config{}
	ConfigureRiver(b.svc, time.Hour, time.Minute, true)(cfg)
	if len(cfg.PeriodicJobs) != 1 || cfg.Queues[QueueUsage].MaxWorkers != 1 {
		t.Fatalf("config: %d periodic jobs, queues %v", len(cfg.PeriodicJobs), cfg.Queues)
	}
	cfg.PeriodicJobs = nil // this test inserts its own
	client, err := river.NewClient(riverpgxv5.New(b.pool), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.svc.SetEnqueue(func(ctx context.Context, args SyncArgs) error { _, err := client.Insert(ctx, args, nil); return err })
	if err := b.svc.RequestSync(ctx); err != nil {
		t.Fatal(err)
	}
	dup, err := client.Insert(ctx, SyncArgs{Trigger: TriggerDashboard}, nil)
	if err != nil || !dup.UniqueSkippedAsDuplicate {
		t.Errorf("second request: duplicate %v, %v", dup != nil && dup.UniqueSkippedAsDuplicate, err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer client.Stop(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for b.count(t, `SELECT count(*) FROM usage_sync_runs WHERE status = 'finished' AND trigger = 'dashboard'`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the job did not sync")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := b.count(t, `SELECT count(*) FROM cost_daily`); n == 0 {
		t.Error("nothing stored")
	}
	// Without a worker-only client's queue: worker registered, nothing else.
	cfg2 := &river.Config{}
	ConfigureRiver(b.svc, time.Hour, time.Minute, false)(cfg2)
	if len(cfg2.PeriodicJobs) != 0 || len(cfg2.Queues) != 0 || cfg2.Workers == nil {
		t.Error("a non-working client got the queue or the periodic job")
	}
}
