package cost

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// QueueUsage is the River queue of usage syncs.
const QueueUsage = "usage"

// SyncArgs is the River job that syncs costs and usage. At most one is
// queued or running at a time (River unique job); the advisory lock in
// Sync also keeps the command line's sync and other processes out.
type SyncArgs struct {
	Trigger string `json:"trigger"`
}

// Kind implements river.JobArgs.
func (SyncArgs) Kind() string { return "usage_sync" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (SyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       QueueUsage,
		MaxAttempts: 3, // a failed run resumes at the next interval anyway
		UniqueOpts: river.UniqueOpts{
			ByState: []rivertype.JobState{
				rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
				rivertype.JobStateRunning, rivertype.JobStateScheduled,
			},
		},
	}
}

// SyncWorker runs SyncArgs jobs.
type SyncWorker struct {
	river.WorkerDefaults[SyncArgs]
	s       *Service
	timeout time.Duration
}

// Timeout implements river.Worker: a first sync of 90 days of a large
// organization reads many pages.
func (w *SyncWorker) Timeout(*river.Job[SyncArgs]) time.Duration { return w.timeout }

// Work implements river.Worker. A sync already running elsewhere is not an
// error: that one does the work.
func (w *SyncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	_, err := w.s.Sync(ctx, SyncOptions{Trigger: job.Args.Trigger})
	switch {
	case errors.Is(err, ErrSyncRunning):
		w.s.logger.Info("usage sync: already running elsewhere; skipping", "job_id", job.ID)
		return nil
	case errors.Is(err, ErrNotConfigured):
		return river.JobCancel(err)
	}
	return err
}

// ConfigureRiver returns a hook that registers the sync worker in a River
// config and, when work is set, its queue and (interval > 0) the periodic
// job, run at start and then every interval. A client that works other
// queues only (the backfill command) registers the worker without them:
// River's rescuer discards kinds it does not know.
func ConfigureRiver(s *Service, interval, timeout time.Duration, work bool) func(*river.Config) {
	return func(cfg *river.Config) {
		if cfg.Workers == nil {
			cfg.Workers = river.NewWorkers()
		}
		river.AddWorker(cfg.Workers, &SyncWorker{s: s, timeout: timeout})
		if !work {
			return
		}
		if cfg.Queues == nil {
			cfg.Queues = map[string]river.QueueConfig{}
		}
		cfg.Queues[QueueUsage] = river.QueueConfig{MaxWorkers: 1}
		if interval > 0 && s.Configured() {
			cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(
				river.PeriodicInterval(interval),
				func() (river.JobArgs, *river.InsertOpts) { return SyncArgs{Trigger: TriggerPeriodic}, nil },
				&river.PeriodicJobOpts{ID: "usage_sync", RunOnStart: true},
			))
		}
	}
}

// SetEnqueue sets how RequestSync queues a sync job (a River insert); the
// app wires it once its River client exists.
func (s *Service) SetEnqueue(fn func(ctx context.Context, args SyncArgs) error) { s.enqueue = fn }

// RequestSync queues a sync now (the dashboard's "Sync now"). River's
// uniqueness makes a second request while one is queued or running a
// no-op. Returns ErrNotConfigured without an admin key.
func (s *Service) RequestSync(ctx context.Context) error {
	if s.usage == nil {
		return ErrNotConfigured
	}
	if s.enqueue == nil {
		return errors.New("cost: no job queue to run the sync")
	}
	return s.enqueue(ctx, SyncArgs{Trigger: TriggerDashboard})
}
