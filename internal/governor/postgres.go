package governor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// PostgresStore keeps the state in the openai_governors row of one
// organization, so that every process on the database shares it. Each
// Update is one short transaction that locks the row (SELECT … FOR UPDATE),
// reads the database's clock, and writes the row back: four round trips,
// taken once per batch of slots (a Horizon's worth), not once per call.
type PostgresStore struct {
	pool  *pgxpool.Pool
	key   string
	start float64
}

// OrgKey identifies an organization by its admin key and organization ID
// without holding either: a SHA-256 digest of the two.
func OrgKey(adminKey, orgID string) string {
	sum := sha256.Sum256([]byte("openai-governor\x00" + adminKey + "\x00" + orgID))
	return hex.EncodeToString(sum[:16])
}

// NewPostgresStore returns the store of the organization key (see OrgKey)
// on pool. Give it a pool of its own (one or two connections): callers
// waiting for a slot may hold every connection of the application's pool.
func NewPostgresStore(pool *pgxpool.Pool, key string, p Params) *PostgresStore {
	return &PostgresStore{pool: pool, key: key, start: p.withDefaults().StartRate}
}

// Update implements Store.
func (ps *PostgresStore) Update(ctx context.Context, fn func(s *State, now time.Time)) error {
	for range 2 {
		err := pgx.BeginFunc(ctx, ps.pool, func(tx pgx.Tx) error {
			q := dbgen.New(tx)
			row, err := q.LockOpenAIGovernor(ctx, ps.key)
			if err != nil {
				return err
			}
			s := State{
				Rate: row.Rate, Limit: row.LearnedLimit, HeaderLimit: row.HeaderLimit, UpperLimit: row.UpperLimit,
				NextSlot: row.NextSlotAt, GrownAt: row.GrownAt, CutAt: row.CutAt, ProbeFrom: row.ProbeFrom,
				BucketAt: row.BucketAt, BucketOK: int(row.BucketOk), BucketRefused: int(row.BucketRefused),
				PrevOK: int(row.PrevOk), PrevRefused: int(row.PrevRefused), Refusals: row.Refused,
			}
			fn(&s, row.Now)
			return q.SaveOpenAIGovernor(ctx, dbgen.SaveOpenAIGovernorParams{
				OrgKey: ps.key, Rate: s.Rate, LearnedLimit: s.Limit, HeaderLimit: s.HeaderLimit, UpperLimit: s.UpperLimit,
				NextSlotAt: s.NextSlot, GrownAt: s.GrownAt, CutAt: s.CutAt, ProbeFrom: s.ProbeFrom,
				BucketAt: s.BucketAt, BucketOk: int32(s.BucketOK), BucketRefused: int32(s.BucketRefused),
				PrevOk: int32(s.PrevOK), PrevRefused: int32(s.PrevRefused), Refused: s.Refusals,
			})
		})
		if !errors.Is(err, pgx.ErrNoRows) {
			if err != nil {
				return fmt.Errorf("openai governor: %w", err)
			}
			return nil
		}
		// First use of this organization: its row, then the update.
		if err := dbgen.New(ps.pool).CreateOpenAIGovernor(ctx, dbgen.CreateOpenAIGovernorParams{OrgKey: ps.key, Rate: ps.start}); err != nil {
			return fmt.Errorf("openai governor: %w", err)
		}
	}
	return errors.New("openai governor: the state row vanished")
}
