package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// Actions lists every action, in the order a filter offers them.
var Actions = []string{
	ActionAssignProjectID, ActionChangeProjectID, ActionClearProjectID, ActionRetryProvision,
	ActionBackfillStart, ActionBackfillFinish, ActionStaffAdd, ActionStaffDisable,
	ActionApproveSignup, ActionRejectSignup,
}

// ActionLabel is how people read an action.
func ActionLabel(action string) string {
	switch action {
	case ActionAssignProjectID:
		return "Project ID assigned"
	case ActionChangeProjectID:
		return "Project ID changed"
	case ActionClearProjectID:
		return "Project ID cleared"
	case ActionRetryProvision:
		return "Provisioning requested"
	case ActionBackfillStart:
		return "Backfill started"
	case ActionBackfillFinish:
		return "Backfill finished"
	case ActionStaffAdd:
		return "Staff member added"
	case ActionStaffDisable:
		return "Staff member disabled"
	case ActionApproveSignup:
		return "Signup approved"
	case ActionRejectSignup:
		return "Signup rejected"
	}
	return action
}

// PageSize is the number of entries on a page of the log.
const PageSize = 50

// ListParams select a page of the audit log.
type ListParams struct {
	Action  string // one action, "" for all
	Actor   string // any part of the actor's email, ignoring letter case
	Company string // any part of the company's name, ignoring letter case
	// After is a Page.Next cursor; "" for the newest entries.
	After string
	// Limit is the page size: PageSize when zero.
	Limit int
}

// Page is a page of the audit log, newest first.
type Page struct {
	Entries []Entry
	// Next is the cursor of the following (older) page, "" on the last page.
	Next string
}

// ErrInvalidCursor is returned by List for a cursor it did not make.
var ErrInvalidCursor = errors.New("audit: invalid page cursor")

// List returns a page of the log, newest first. Pages are found by their
// position (keyset pagination), so entries written meanwhile never shift
// them. Returns ErrInvalidCursor.
func List(ctx context.Context, db dbgen.DBTX, p ListParams) (Page, error) {
	if p.Limit <= 0 || p.Limit > 500 {
		p.Limit = PageSize
	}
	arg := dbgen.ListAuditEntriesParams{
		Action:         strings.TrimSpace(p.Action),
		ActorPattern:   containsPattern(p.Actor),
		CompanyPattern: containsPattern(p.Company),
		MaxRows:        int32(p.Limit + 1),
	}
	if p.After != "" {
		c, err := decodeCursor(p.After)
		if err != nil {
			return Page{}, err
		}
		arg.HasCursor, arg.CursorAt, arg.CursorID = true, time.UnixMicro(c.At), c.ID
	}
	rows, err := dbgen.New(db).ListAuditEntries(ctx, arg)
	if err != nil {
		return Page{}, fmt.Errorf("list audit entries: %w", err)
	}
	var page Page
	if len(rows) > p.Limit {
		rows = rows[:p.Limit]
		last := rows[len(rows)-1]
		page.Next = cursor{At: last.At.UnixMicro(), ID: last.ID}.encode()
	}
	page.Entries = make([]Entry, len(rows))
	for i, r := range rows {
		e := Entry{
			ID: r.ID, At: r.At, Actor: Actor{Email: r.ActorEmail}, Action: r.Action, CompanyName: r.CompanyName,
			Before: r.Before, After: r.After, Detail: r.Detail,
		}
		if r.ActorID != nil {
			e.Actor.ID = *r.ActorID
		}
		if r.CompanyID != nil {
			e.CompanyID = *r.CompanyID
		}
		page.Entries[i] = e
	}
	return page, nil
}

// containsPattern is the LIKE pattern matching s anywhere, "" for no filter.
func containsPattern(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}

// cursor is the position of an entry in the log.
type cursor struct {
	At int64 `json:"t"` // microseconds, PostgreSQL's precision
	ID int64 `json:"id"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c) // cannot fail for this struct
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID <= 0 {
		return cursor{}, ErrInvalidCursor
	}
	return c, nil
}
