package keys_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/keys"
	"github.com/provisioner/provisioner/internal/keystore"
	"github.com/provisioner/provisioner/internal/metrics"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/provision"
	"github.com/provisioner/provisioner/internal/testclock"
)

const adminKey = "sk-admin-fake-keys"

type bundle struct {
	pool   *pgxpool.Pool
	url    string
	fake   *openaitest.Server
	client *openai.Client
	ks     *keystore.Keystore
	keyset []byte
	gov    *openaitest.RecordingGovernor
	keys   *keys.Service
	prov   *provision.Provisioner
	river  *river.Client[pgx.Tx]
	clock  *testclock.Clock
	logs   *lockedBuffer
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func setup(t *testing.T) *bundle {
	t.Helper()
	pool, url := dbtest.NewPoolURL(t)
	fake := openaitest.New(openaitest.Options{AdminKey: adminKey})
	t.Cleanup(fake.Close)
	gov := openaitest.NewRecordingGovernor(t, 0)
	client, _ := fake.NewClient(t, openai.Options{AdminKey: adminKey, Timeout: 500 * time.Millisecond, Governor: gov})
	js, err := keystore.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Parse(js)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	clk := testclock.New(time.Now())
	svc := keys.New(pool, client, ks, keys.Settings{
		BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, SettleDelay: time.Millisecond,
		Rotation: 90 * 24 * time.Hour, Grace: 24 * time.Hour, LockWaitBusy: 10 * time.Millisecond,
		// OpenAI's created_at has whole seconds.
		ClockSkew: time.Second,
	}, logger)
	svc.Now = clk.Now
	prov := provision.New(pool, client, provision.Settings{
		MaxAttempts: 10, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, SettleDelay: time.Millisecond,
	}, metrics.New(prometheus.NewRegistry()), logger)
	prov.SetOnLinked(func(ctx context.Context, tx pgx.Tx, companyID int64, _ string) error {
		return svc.EnqueueTx(ctx, tx, companyID, keys.TriggerProject)
	})
	rc, err := provision.NewRiverClient(pool, prov, provision.ClientOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetRiver(rc)
	return &bundle{pool: pool, url: url, fake: fake, client: client, gov: gov, ks: ks, keyset: js, keys: svc, prov: prov, river: rc, clock: clk, logs: logs}
}

// company inserts a company with a project on the fake.
func (b *bundle) company(t *testing.T, name string) (int64, string) {
	t.Helper()
	p := b.fake.AddProject(name, false)
	var id int64
	err := b.pool.QueryRow(context.Background(), `INSERT INTO companies (name, industry, contact_name, contact_email, project_description, openai_project_id, provisioning_status)
		VALUES ($1, 'Software', 'Test', 'test@example.com', 'd', $2, 'provisioned') RETURNING id`, name, p.ID).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id, p.ID
}

// issueUntilFinal calls Issue, moving the clock past every wait, until the
// outcome is final.
func (b *bundle) issueUntilFinal(t *testing.T, id int64, pause time.Duration) keys.Result {
	t.Helper()
	for range 30 {
		res, err := b.keys.Issue(context.Background(), id, keys.Attempt{Trigger: keys.TriggerManual})
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		if res.Outcome.Final() {
			return res
		}
		b.clock.Add(time.Hour)
		time.Sleep(5*time.Millisecond + pause)
	}
	t.Fatal("Issue never reached a final outcome")
	return keys.Result{}
}

// requireOneHeldKey checks the acceptance rule: exactly one live service
// account of ours in the project, and the key we hold is its key.
func (b *bundle) requireOneHeldKey(t *testing.T, companyID int64, projectID string) openaitest.ServiceAccount {
	t.Helper()
	var ours []openaitest.ServiceAccount
	for _, sa := range b.fake.ServiceAccounts(projectID) {
		if sa.Name == "provisioner" {
			ours = append(ours, sa)
		}
	}
	if len(ours) != 1 {
		t.Fatalf("project %s has %d live service accounts of ours, want 1: %+v", projectID, len(ours), ours)
	}
	k, value, err := b.keys.Reveal(context.Background(), companyID, audit.Actor{Email: "test"})
	if err != nil {
		t.Fatalf("Reveal: %v", err)
	}
	if k.ID != ours[0].KeyID || k.ServiceAccountID != ours[0].ID || value.Reveal() != ours[0].KeyValue {
		t.Fatalf("we hold key %s of %s; the live one is %s of %s (value matches: %v)",
			k.ID, k.ServiceAccountID, ours[0].KeyID, ours[0].ID, value.Reveal() == ours[0].KeyValue)
	}
	return ours[0]
}

func TestIssue_OK(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	id, pid := b.company(t, "Acme")
	res, err := b.keys.Issue(ctx, id, keys.Attempt{Trigger: keys.TriggerManual})
	if err != nil || res.Outcome != keys.Created {
		t.Fatalf("Issue = %+v, %v", res, err)
	}
	sa := b.requireOneHeldKey(t, id, pid)
	again, err := b.keys.Issue(ctx, id, keys.Attempt{Trigger: keys.TriggerManual})
	if err != nil || again.Outcome != keys.AlreadyIssued || again.KeyID != sa.KeyID {
		t.Errorf("second Issue = %+v, %v", again, err)
	}
	k, err := b.keys.Current(ctx, id)
	if err != nil || k.RedactedValue == "" || strings.Contains(sa.KeyValue, k.RedactedValue) && len(k.RedactedValue) == len(sa.KeyValue) ||
		!k.ExpiresAt.Equal(k.CreatedAt.Add(90*24*time.Hour)) {
		t.Errorf("Current = %+v, %v", k, err)
	}
	// The read was audited with the reader, never the value.
	var n int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'key.read' AND detail LIKE '%test%'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("key.read audit entries: %d, %v", n, err)
	}
	b.fake.TouchAPIKey(sa.KeyID, time.Unix(1_900_000_000, 0))
	if err := b.keys.RefreshUsage(ctx, id); err != nil {
		t.Fatal(err)
	}
	if k, _ := b.keys.Current(ctx, id); k.LastUsedAt == nil || k.LastUsedAt.Unix() != 1_900_000_000 || k.RedactedValue != openaitest.Redacted(sa.KeyValue) {
		t.Errorf("after refresh: %+v", k)
	}
	requireNoLeak(t, b, sa.KeyValue)
}

// requireNoLeak greps every place the value must never be: the database's
// text (audit, attempts, jobs, keys' own columns), and the logs.
func requireNoLeak(t *testing.T, b *bundle, value string) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`SELECT count(*) FROM audit_log WHERE concat_ws(' ', actor_email, action, before, after, detail) LIKE '%' || $1 || '%'`,
		`SELECT count(*) FROM key_attempts WHERE concat_ws(' ', error, service_account_id, trigger, actor) LIKE '%' || $1 || '%'`,
		`SELECT count(*) FROM river_job WHERE args::text LIKE '%' || $1 || '%' OR coalesce(errors::text, '') LIKE '%' || $1 || '%'`,
		`SELECT count(*) FROM company_keys WHERE redacted_value LIKE '%' || $1 || '%' OR position(convert_to($1, 'UTF8') in ciphertext) > 0`,
		`SELECT count(*) FROM company_key_status WHERE error LIKE '%' || $1 || '%'`,
	} {
		var n int
		if err := b.pool.QueryRow(ctx, q, value).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n != 0 {
			t.Errorf("the key value is in the database: %s", q)
		}
	}
	if strings.Contains(b.logs.String(), value) {
		t.Error("the key value is in the logs")
	}
}

// TestIssue_FaultTable: whatever goes wrong with the create, the project
// ends with exactly one live service account of ours, and we hold its key.
func TestIssue_FaultTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		faults []openaitest.Fault
		// crash simulates a process that died after its create reached
		// OpenAI: a service account exists and the attempt row says started.
		crash      bool
		wantFailed bool
		// pause is real time waited between attempts (a timed-out create
		// lands at OpenAI later, which the settling delay covers).
		pause time.Duration
	}{
		{name: "no fault"},
		{name: "429", faults: []openaitest.Fault{{Endpoint: openaitest.EndpointCreateServiceAccount, Status: 429, RetryAfter: "1"}}},
		{name: "500 (nothing created)", faults: []openaitest.Fault{{Endpoint: openaitest.EndpointCreateServiceAccount, Status: 500}}},
		{name: "reset", faults: []openaitest.Fault{{Endpoint: openaitest.EndpointCreateServiceAccount, Reset: true}}},
		{name: "created, then the answer lost", faults: []openaitest.Fault{{Endpoint: openaitest.EndpointCreateServiceAccount, CreateThenDrop: true}}},
		{name: "created, answer malformed", faults: []openaitest.Fault{{Endpoint: openaitest.EndpointCreateServiceAccount, Malformed: true}}},
		{name: "created, timeout", faults: []openaitest.Fault{{Endpoint: openaitest.EndpointCreateServiceAccount, Latency: 800 * time.Millisecond}}, pause: 600 * time.Millisecond},
		{name: "lost twice in a row", faults: []openaitest.Fault{
			{Endpoint: openaitest.EndpointCreateServiceAccount, CreateThenDrop: true},
			{Endpoint: openaitest.EndpointCreateServiceAccount, CreateThenDrop: true},
		}},
		{name: "lost, then the list fails", faults: []openaitest.Fault{
			{Endpoint: openaitest.EndpointCreateServiceAccount, CreateThenDrop: true},
			{Endpoint: openaitest.EndpointListServiceAccounts, Status: 503},
			{Endpoint: openaitest.EndpointListServiceAccounts, Status: 503},
			{Endpoint: openaitest.EndpointListServiceAccounts, Status: 503},
		}},
		{name: "lost, then the orphan's delete fails", faults: []openaitest.Fault{
			{Endpoint: openaitest.EndpointCreateServiceAccount, CreateThenDrop: true},
			{Endpoint: openaitest.EndpointDeleteServiceAccount, Reset: true},
			{Endpoint: openaitest.EndpointDeleteServiceAccount, Reset: true},
			{Endpoint: openaitest.EndpointDeleteServiceAccount, Reset: true},
		}},
		{name: "crash after the create", crash: true},
		{name: "403 is final", faults: []openaitest.Fault{{Endpoint: openaitest.EndpointCreateServiceAccount, Status: 403}}, wantFailed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			id, pid := b.company(t, "Faulty")
			// Someone else's service account with our name, made before:
			// it is never touched.
			foreign := b.fake.AddServiceAccount(pid, "provisioner")
			b.clock.Add(2 * time.Minute)
			time.Sleep(2100 * time.Millisecond) // beyond the clock skew allowed
			if tc.crash {
				orphan := b.fake.AddServiceAccount(pid, "provisioner")
				if _, err := b.pool.Exec(context.Background(), `INSERT INTO key_attempts (company_id, project_id, trigger, started_at)
					VALUES ($1, $2, 'project', now() - interval '500 milliseconds')`, id, pid); err != nil {
					t.Fatal(err)
				}
				_ = orphan
			}
			b.fake.Inject(tc.faults...)
			res := b.issueUntilFinal(t, id, tc.pause)
			if tc.wantFailed {
				if res.Outcome != keys.Failed {
					t.Fatalf("outcome %s, want failed", res.Outcome)
				}
				if n := len(b.fake.ServiceAccounts(pid)); n != 1 {
					t.Errorf("%d service accounts, want only the foreign one", n)
				}
				st, _ := b.keys.StatusOf(context.Background(), id)
				if st.State != "failed" || st.Error == "" {
					t.Errorf("status %+v", st)
				}
				return
			}
			if res.Outcome != keys.Created {
				t.Fatalf("outcome %s (%v)", res.Outcome, res.Err)
			}
			// The foreign account (created before our attempt) is still
			// there, beside exactly one of ours.
			live := b.fake.ServiceAccounts(pid)
			foreignLeft := false
			for _, sa := range live {
				foreignLeft = foreignLeft || sa.ID == foreign.ID
			}
			if !foreignLeft {
				t.Fatal("a service account created before our attempt was deleted")
			}
			var ours []openaitest.ServiceAccount
			for _, sa := range live {
				if sa.ID != foreign.ID {
					ours = append(ours, sa)
				}
			}
			if len(ours) != 1 {
				t.Fatalf("%d live service accounts of ours, want 1", len(ours))
			}
			k, value, err := b.keys.Reveal(context.Background(), id, audit.Actor{Email: "test"})
			if err != nil || k.ServiceAccountID != ours[0].ID || value.Reveal() != ours[0].KeyValue {
				t.Fatalf("held key %+v (%v) is not the live one %+v", k, err, ours[0])
			}
			if b.fake.PendingFaults() != 0 {
				t.Errorf("%d faults never consumed", b.fake.PendingFaults())
			}
			requireNoLeak(t, b, ours[0].KeyValue)
		})
	}
}

func TestCiphertextMovedToAnotherRowFails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a, _ := b.company(t, "Alpha")
	c, _ := b.company(t, "Beta")
	for _, id := range []int64{a, c} {
		if res, err := b.keys.Issue(ctx, id, keys.Attempt{Trigger: keys.TriggerManual}); err != nil || res.Outcome != keys.Created {
			t.Fatalf("Issue(%d) = %+v %v", id, res, err)
		}
	}
	if _, err := b.pool.Exec(ctx, `UPDATE company_keys SET ciphertext = (SELECT ciphertext FROM company_keys WHERE company_id = $1)
		WHERE company_id = $2`, a, c); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.keys.Reveal(ctx, c, audit.Actor{Email: "test"}); !errors.Is(err, keystore.ErrDecrypt) {
		t.Fatalf("Reveal of a moved ciphertext: %v, want ErrDecrypt", err)
	}
	if _, _, err := b.keys.Reveal(ctx, a, audit.Actor{Email: "test"}); err != nil {
		t.Fatalf("the original row: %v", err)
	}
}

// TestPgDumpHasNoKeyValue dumps the whole test database and looks for the
// values issued.
func TestPgDumpHasNoKeyValue(t *testing.T) {
	t.Parallel()
	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Fatal("pg_dump is not installed; this test needs it (apt-get install postgresql-client)")
	}
	b := setup(t)
	ctx := context.Background()
	var values, ids []string
	for i := range 3 {
		id, pid := b.company(t, fmt.Sprint("Dumped ", i))
		if res, err := b.keys.Issue(ctx, id, keys.Attempt{Trigger: keys.TriggerManual}); err != nil || res.Outcome != keys.Created {
			t.Fatalf("Issue = %+v %v", res, err)
		}
		sa := b.fake.ServiceAccounts(pid)[0]
		values, ids = append(values, sa.KeyValue), append(ids, sa.KeyID)
	}
	out, err := exec.CommandContext(ctx, pgDump, "--data-only", "--inserts", b.url).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	dump := string(out)
	for i := range values {
		if !strings.Contains(dump, ids[i]) {
			t.Fatalf("the dump lacks key id %s: not a dump of this database?", ids[i])
		}
		if strings.Contains(dump, values[i]) || strings.Contains(dump, values[i][11:40]) {
			t.Errorf("the dump contains key value %d", i)
		}
	}
}

func TestReencryptAfterKeysetRotation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var companies []int64
	for i := range 3 {
		id, _ := b.company(t, fmt.Sprint("Enc ", i))
		if _, err := b.keys.Issue(ctx, id, keys.Attempt{Trigger: keys.TriggerManual}); err != nil {
			t.Fatal(err)
		}
		companies = append(companies, id)
	}
	rotated, err := keystore.Rotate(b.keyset)
	if err != nil {
		t.Fatal(err)
	}
	ks2, err := keystore.Parse(rotated)
	if err != nil {
		t.Fatal(err)
	}
	svc2 := keys.New(b.pool, b.client, ks2, keys.Settings{}, nil)
	resealed, current, err := svc2.Reencrypt(ctx)
	if err != nil || resealed != 3 || current != 0 {
		t.Fatalf("Reencrypt = %d resealed, %d current, %v", resealed, current, err)
	}
	rows, err := b.pool.Query(ctx, `SELECT ciphertext FROM company_keys`)
	if err != nil {
		t.Fatal(err)
	}
	cts, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range cts {
		if !ks2.UnderPrimary(ct) {
			t.Error("a value is not under the new primary key")
		}
		if _, err := b.ks.Open(ct, 0, ""); err == nil {
			t.Error("impossible")
		}
	}
	// The old keyset (without the new key) can no longer read them.
	for _, id := range companies {
		if _, _, err := b.keys.Reveal(ctx, id, audit.Actor{Email: "t"}); !errors.Is(err, keystore.ErrDecrypt) {
			t.Errorf("the old keyset still opens company %d's key: %v", id, err)
		}
		if _, _, err := svc2.Reveal(ctx, id, audit.Actor{Email: "t"}); err != nil {
			t.Errorf("the rotated keyset cannot open company %d's key: %v", id, err)
		}
	}
	if resealed, current, err := svc2.Reencrypt(ctx); err != nil || resealed != 0 || current != 3 {
		t.Errorf("second Reencrypt = %d, %d, %v", resealed, current, err)
	}
}

// TestRotationWithGrace drives the clock: the rotation replaces the key
// after its lifetime; the old service account stays on OpenAI for the
// grace period and is deleted after it.
func TestRotationWithGrace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	id, pid := b.company(t, "Rotating")
	if _, err := b.keys.Issue(ctx, id, keys.Attempt{Trigger: keys.TriggerManual}); err != nil {
		t.Fatal(err)
	}
	first, _ := b.keys.Current(ctx, id)

	b.clock.Add(89 * 24 * time.Hour)
	if due, err := b.keys.DueForRotation(ctx, 10); err != nil || len(due) != 0 {
		t.Fatalf("due after 89 days: %v %v", due, err)
	}
	b.clock.Add(2 * 24 * time.Hour)
	rep, err := b.keys.Maintain(ctx)
	if err != nil || rep.RotationsEnqueued != 1 {
		t.Fatalf("Maintain after 91 days = %+v, %v", rep, err)
	}
	var args string
	if err := b.pool.QueryRow(ctx, `SELECT args::text FROM river_job WHERE kind = 'issue_key'`).Scan(&args); err != nil ||
		!strings.Contains(args, `"rotate": true`) && !strings.Contains(args, `"rotate":true`) {
		t.Fatalf("rotation job args %q, %v", args, err)
	}
	// Work the rotation the job would do.
	res, err := b.keys.Rotate(ctx, id, keys.Attempt{Trigger: keys.TriggerRotation})
	if err != nil || res.Outcome != keys.Created || res.KeyID == first.ID {
		t.Fatalf("Rotate = %+v, %v", res, err)
	}
	if n := len(b.fake.ServiceAccounts(pid)); n != 2 {
		t.Fatalf("%d service accounts during the grace period, want 2", n)
	}
	all, _ := b.keys.List(ctx, id)
	if len(all) != 2 || all[0].State != "current" || all[1].State != "retiring" || all[1].RetireAt == nil {
		t.Fatalf("keys %+v", all)
	}
	b.clock.Add(23 * time.Hour)
	if rep, err := b.keys.Maintain(ctx); err != nil || rep.Retired != 0 {
		t.Fatalf("Maintain within grace = %+v, %v", rep, err)
	}
	if n := len(b.fake.ServiceAccounts(pid)); n != 2 {
		t.Fatalf("the old service account was deleted within the grace period")
	}
	b.clock.Add(2 * time.Hour)
	if rep, err := b.keys.Maintain(ctx); err != nil || rep.Retired != 1 {
		t.Fatalf("Maintain after grace = %+v, %v", rep, err)
	}
	b.requireOneHeldKey(t, id, pid)
	if sas := b.fake.ServiceAccounts(pid); sas[0].KeyID != res.KeyID {
		t.Errorf("the live key is %s, want the new %s", sas[0].KeyID, res.KeyID)
	}
	var audited int
	_ = b.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE company_id = $1 AND action IN ('key.issued','key.rotate','key.retired')`, id).Scan(&audited)
	if audited != 3 {
		t.Errorf("%d audit entries for issue, rotate, retire; want 3", audited)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	id, pid := b.company(t, "Revoked")
	if _, err := b.keys.Issue(ctx, id, keys.Attempt{Trigger: keys.TriggerManual}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.keys.Rotate(ctx, id, keys.Attempt{Trigger: keys.TriggerManual}); err != nil {
		t.Fatal(err)
	}
	// The key step's calls say who they are: background unless someone
	// waits for them (a staff member's revoke, as the web handler says).
	issued := b.gov.Calls()
	if len(issued) == 0 || slices.ContainsFunc(issued, func(c string) bool { return c != "keys/background" }) {
		t.Errorf("issue and rotate made calls %v, want keys/background only", issued)
	}
	staff := governor.WithCall(ctx, governor.CallerKeys, governor.Interactive)
	n, err := b.keys.Revoke(staff, id, audit.Actor{Email: "admin@example.com"})
	if err != nil || n != 2 {
		t.Fatalf("Revoke = %d, %v (current and retiring)", n, err)
	}
	if revoked := b.gov.Calls()[len(issued):]; len(revoked) != 2 || slices.ContainsFunc(revoked, func(c string) bool { return c != "keys/interactive" }) {
		t.Errorf("revoke made calls %v, want two keys/interactive", revoked)
	}
	if left := b.fake.ServiceAccounts(pid); len(left) != 0 {
		t.Errorf("%d service accounts left after revoke", len(left))
	}
	if _, err := b.keys.Current(ctx, id); !errors.Is(err, keys.ErrNoKey) {
		t.Errorf("Current after revoke: %v", err)
	}
	if st, _ := b.keys.StatusOf(ctx, id); st.State != "revoked" {
		t.Errorf("status %+v", st)
	}
	// The backfill leaves a revoked company alone.
	if n, _ := b.keys.CountWithoutKey(ctx); n != 0 {
		t.Errorf("%d companies to backfill after revoke, want 0", n)
	}
	if _, err := b.keys.Revoke(ctx, id, audit.Actor{Email: "admin@example.com"}); !errors.Is(err, keys.ErrNoKey) {
		t.Errorf("second revoke: %v", err)
	}
}

// TestKeyFollowsProjectOnEveryPath: linking a project (here through
// Provision, the path of the signup, the job and the backfill) enqueues
// the key step in the same transaction; working it issues the key.
func TestKeyFollowsProject(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var id int64
	if err := b.pool.QueryRow(ctx, `INSERT INTO companies (name, industry, contact_name, contact_email, project_description)
		VALUES ('Newco', 'Software', 'T', 't@example.com', 'd') RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	res, err := b.prov.Provision(ctx, id, provision.Attempt{Trigger: provision.TriggerSignup})
	if err != nil || res.Outcome != provision.Created {
		t.Fatalf("Provision = %+v %v", res, err)
	}
	var jobs int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'issue_key' AND (args->>'company_id')::bigint = $1`, id).Scan(&jobs); err != nil || jobs != 1 {
		t.Fatalf("%d key jobs after the project was linked, %v", jobs, err)
	}
	if st, _ := b.keys.StatusOf(ctx, id); st.State != "pending" {
		t.Errorf("key status %q, want pending", st.State)
	}
	w := keys.NewIssueWorker(b.keys, 10*time.Second)
	if err := w.Work(ctx, &river.Job[keys.IssueArgs]{JobRow: &rivertype.JobRow{ID: 1, Attempt: 1}, Args: keys.IssueArgs{CompanyID: id, Trigger: keys.TriggerProject}}); err != nil {
		t.Fatal(err)
	}
	b.requireOneHeldKey(t, id, res.ProjectID)
}

// TestKeysBackfill200 gives 200 provisioned companies their keys.
func TestKeysBackfill200(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	projects := map[int64]string{}
	for i := range 200 {
		id, pid := b.company(t, fmt.Sprint("Backfilled ", i))
		projects[id] = pid
	}
	// A few faults on the way.
	b.fake.Inject(
		openaitest.Fault{Endpoint: openaitest.EndpointCreateServiceAccount, Status: 429, RetryAfter: "1"},
		openaitest.Fault{Endpoint: openaitest.EndpointCreateServiceAccount, CreateThenDrop: true},
		openaitest.Fault{Endpoint: openaitest.EndpointCreateServiceAccount, Status: 502},
	)
	if n, err := b.keys.CountWithoutKey(ctx); err != nil || n != 200 {
		t.Fatalf("CountWithoutKey = %d, %v", n, err)
	}
	b.keys.Now = time.Now // real waits: the backfill sleeps what OpenAI asks
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	calls := 0
	rep, err := b.keys.Backfill(cctx, 8, audit.Actor{Email: "cli"}, func(done, total int) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 200 || rep.Created != 200 || rep.Failed != 0 || calls != 200 {
		t.Fatalf("report %+v, %d progress calls", rep, calls)
	}
	for id, pid := range projects {
		b.requireOneHeldKey(t, id, pid)
	}
	if n, _ := b.keys.CountWithoutKey(ctx); n != 0 {
		t.Errorf("%d left without a key", n)
	}
	rep, err = b.keys.Backfill(ctx, 8, audit.Actor{Email: "cli"}, nil)
	if err != nil || rep.Total != 0 || b.fake.Count(openaitest.EndpointCreateServiceAccount) != 203 {
		t.Errorf("second backfill %+v %v; %d creates (200 + the 429, the lost one and the 502)", rep, err, b.fake.Count(openaitest.EndpointCreateServiceAccount))
	}
}
