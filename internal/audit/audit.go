// Package audit records who changed what: every manual change to a
// company's project and every backfill run. Entries are written in the same
// transaction as the change they describe, so neither exists without the
// other.
package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// Actions recorded in the log.
const (
	ActionAssignProjectID = "project_id.assign"
	ActionChangeProjectID = "project_id.change"
	ActionClearProjectID  = "project_id.clear"
	ActionRetryProvision  = "provision.retry"
	ActionBackfillStart   = "backfill.start"
	ActionBackfillFinish  = "backfill.finish"
	ActionStaffAdd        = "staff.add"
	ActionStaffDisable    = "staff.disable"
	ActionApproveSignup   = "signup.approve"
	ActionRejectSignup    = "signup.reject"
)

// Actor is who made a change. ID is zero for the command line or the API token.
type Actor struct {
	ID    int64
	Email string
	// Addr is the client address of the request, "" for the command line.
	Addr string
}

// Entry is one audit log row.
type Entry struct {
	ID          int64
	At          time.Time
	Actor       Actor
	Action      string
	CompanyID   int64 // zero when not about one company
	CompanyName string
	Before      string
	After       string
	Detail      string
}

// Record writes e with q, which should be bound to the transaction of the
// change it describes.
func Record(ctx context.Context, q *dbgen.Queries, e Entry) error {
	p := dbgen.CreateAuditEntryParams{
		ActorEmail: e.Actor.Email, Action: e.Action, CompanyName: e.CompanyName,
		Before: e.Before, After: e.After, Detail: e.Detail, ActorAddr: e.Actor.Addr,
	}
	if e.Actor.ID != 0 {
		p.ActorID = &e.Actor.ID
	}
	if e.CompanyID != 0 {
		p.CompanyID = &e.CompanyID
	}
	if _, err := q.CreateAuditEntry(ctx, p); err != nil {
		return fmt.Errorf("record audit entry %s: %w", e.Action, err)
	}
	return nil
}
