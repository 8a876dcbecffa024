package policy

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// workingClient starts a River client that works the policy queue with
// svc's workers, as a worker process does.
func workingClient(t *testing.T, b *bundle, svc *Service) *river.Client[pgx.Tx] {
	t.Helper()
	workers := river.NewWorkers()
	svc.Register(workers)
	rc, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{
		Workers: workers, Queues: map[string]river.QueueConfig{QueuePolicy: {MaxWorkers: 2}},
		JobTimeout: 10 * time.Second, RescueStuckJobsAfter: 15 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetRiver(rc)
	if err := rc.Start(context.WithoutCancel(b.ctx)); err != nil {
		t.Fatal(err)
	}
	return rc
}

// The worker process stops (its jobs cancelled) in the middle of revoking
// keys; another process's River client picks the step up and the
// offboarding finishes, every key revoked once.
func TestOffboard_RiverProcessStopsMidwayAndAnotherFinishes(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id, pid := b.company(t, "Interrupted")
	for _, n := range []string{"a", "b", "c"} {
		b.fake.AddServiceAccount(pid, "key-"+n)
	}
	b.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointDeleteServiceAccount},
		openaitest.Fault{Endpoint: openaitest.EndpointDeleteServiceAccount, Latency: 2 * time.Second})

	first := New(b.pool, b.client, b.svc.settings, nil)
	rc1 := workingClient(t, b, first)
	if _, err := first.Offboard(b.ctx, id, "Interrupted", admin); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(b.fake.ServiceAccounts(pid)) == 3 {
		if time.Now().After(deadline) {
			t.Fatal("the first key was never deleted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The process goes away with the second delete in flight.
	sctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	_ = rc1.StopAndCancel(sctx)
	cancel()
	if o, _, _ := b.svc.GetOffboarding(b.ctx, id); o.Step != StepRevokeKeys {
		t.Fatalf("after the stop: %+v, want still at revoke_keys", o)
	}

	second := New(b.pool, b.client, b.svc.settings, nil)
	rc2 := workingClient(t, b, second)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rc2.StopAndCancel(sctx)
	})
	deadline = time.Now().Add(30 * time.Second)
	for {
		o, _, _ := b.svc.GetOffboarding(b.ctx, id)
		if o.State == OffboardDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offboarding did not finish after the restart: %+v", o)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if left := b.fake.ServiceAccounts(pid); len(left) != 0 {
		t.Errorf("service accounts left: %+v", left)
	}
	if p, _ := b.fake.Project(pid); p.Status != "archived" {
		t.Errorf("project %s", p.Status)
	}
}

// The periodic reconcile runs in parts of ReconcileChunk companies, each a
// job that enqueues the next; the last finds the orphans.
func TestReconcileJob_RunsInParts(t *testing.T) {
	t.Parallel()
	b := setup(t, func(s *Settings) { s.ReconcileChunk = 2 })
	b.setTemplate(t, `{"spend_limit_cents": 1000}`)
	var ids []int64
	for _, n := range []string{"P1", "P2", "P3", "P4", "P5"} {
		id, _ := b.company(t, n)
		ids = append(ids, id)
	}
	b.applyNow(t)
	for _, id := range ids {
		st := b.status(t, id)
		b.fake.Tamper(st.ProjectID, func(_ *openaitest.Project, g *openaitest.Guardrails) { g.SpendLimit = nil })
	}
	orphan := b.fake.AddProject("Loose", false)
	rc := workingClient(t, b, b.svc)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rc.StopAndCancel(sctx)
	})
	if _, err := rc.Insert(b.ctx, ReconcileArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		drifted := 0
		for _, id := range ids {
			if b.status(t, id).State == StateDrifted {
				drifted++
			}
		}
		orphans, _ := b.svc.Orphans(b.ctx)
		if drifted == len(ids) && len(orphans) == 1 && orphans[0].ProjectID == orphan.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d drifted, orphans %+v", drifted, len(ids), orphans)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var parts int
	if err := b.pool.QueryRow(b.ctx, `SELECT count(*) FROM river_job WHERE kind = $1`, ReconcileArgs{}.Kind()).Scan(&parts); err != nil || parts != 3 {
		t.Errorf("%d reconcile jobs, want 3 (2 + 2 + 1 companies)", parts)
	}
}
