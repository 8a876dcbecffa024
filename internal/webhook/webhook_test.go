package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/keys"
	"github.com/provisioner/provisioner/internal/keystore"
	"github.com/provisioner/provisioner/internal/metrics"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/provision"
	"github.com/provisioner/provisioner/internal/webhook"
)

const adminKey = "sk-admin-fake-webhooks"

// received is one request the host app got.
type received struct {
	id, timestamp, signature string
	body                     []byte
}

// receiver is the host app: it records requests and fails the first
// failFirst of them with 500.
type receiver struct {
	mu        sync.Mutex
	got       []received
	failFirst int
	calls     int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.got = append(r.got, received{req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature"), body})
	if r.calls <= r.failFirst {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// verify is an implementation of the Standard Webhooks check written from
// the specification, independent of webhook.Sign: base64-decode the secret
// after "whsec_", HMAC-SHA256 over "id.timestamp.body", compare with each
// space-separated "v1,<base64>" signature in constant time.
func verify(secret string, r received) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(r.timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q", r.timestamp)
	}
	if d := time.Since(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %d too far from now", ts)
	}
	signed := []byte(r.id + "." + r.timestamp + "." + string(r.body))
	h := hmac.New(sha256.New, key)
	h.Write(signed)
	want := h.Sum(nil)
	for _, sig := range strings.Split(r.signature, " ") {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no valid v1 signature in %q", r.signature)
}

func TestWebhooksForTheWholeLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a test secret of 32 bytes, ok!!!"))
	recv := &receiver{failFirst: 1}
	host := httptest.NewServer(recv)
	defer host.Close()

	pool := dbtest.NewPool(t)
	fake := openaitest.New(openaitest.Options{AdminKey: adminKey})
	defer fake.Close()
	client, err := openai.New(openai.Options{AdminKey: adminKey, BaseURL: fake.URL, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	js, _ := keystore.Generate()
	ks, _ := keystore.Parse(js)
	hooks, err := webhook.New(pool, host.URL+"/hooks", secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	keySvc := keys.New(pool, client, ks, keys.Settings{BackoffBase: 10 * time.Millisecond, SettleDelay: 10 * time.Millisecond, ClockSkew: time.Second}, logger)
	keySvc.SetOnEvent(hooks.Emit)
	prov := provision.New(pool, client, provision.Settings{MaxAttempts: 3, BackoffBase: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond, SettleDelay: 10 * time.Millisecond},
		metrics.New(prometheus.NewRegistry()), logger)
	prov.SetOnLinked(func(ctx context.Context, tx pgx.Tx, id int64, pid string) error {
		if err := keySvc.EnqueueTx(ctx, tx, id, keys.TriggerProject); err != nil {
			return err
		}
		return hooks.Emit(ctx, tx, webhook.CompanyProvisioned, id, map[string]any{"project_id": pid})
	})
	prov.SetOnFailed(func(ctx context.Context, tx pgx.Tx, id int64, reason string) error {
		return hooks.Emit(ctx, tx, webhook.CompanyFailed, id, map[string]any{"reason": reason})
	})
	rc, err := provision.NewRiverClient(pool, prov, provision.ClientOptions{
		Work: true, Workers: 2, JobTimeout: 10 * time.Second, RescueAfter: 20 * time.Second, Logger: logger,
		Register: func(w *river.Workers) { keySvc.Register(w, 10*time.Second); hooks.Register(w) },
		Queues:   map[string]river.QueueConfig{keys.QueueKeys: {MaxWorkers: 2}, webhook.QueueWebhooks: {MaxWorkers: 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	keySvc.SetRiver(rc)
	hooks.SetRiver(rc)
	companies := company.NewService(pool, rc, prov, 2*time.Second, logger)
	companies.SetOnCreated(func(ctx context.Context, tx pgx.Tx, id int64) error {
		return hooks.Emit(ctx, tx, webhook.CompanyCreated, id, nil)
	})
	if err := rc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rc.StopAndCancel(sctx)
	}()

	res, err := companies.CreateCompanyFromSignup(ctx, company.SignupParams{Name: "Hooked", Industry: "Software", ContactName: "A", ContactEmail: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Company.ID
	waitFor(t, "the key", func() bool { _, err := keySvc.Current(ctx, id); return err == nil })
	if _, err := keySvc.Rotate(ctx, id, keys.Attempt{Trigger: keys.TriggerManual}); err != nil {
		t.Fatal(err)
	}
	if _, err := keySvc.Revoke(ctx, id, audit.Actor{Email: "admin@example.com"}); err != nil {
		t.Fatal(err)
	}
	// A company whose project fails for good.
	fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: 403})
	if _, err := companies.CreateCompanyFromSignup(ctx, company.SignupParams{Name: "Refused", Industry: "Software", ContactName: "A", ContactEmail: "a@example.com"}); err != nil {
		t.Fatal(err)
	}

	want := []string{"company.created", "company.provisioned", "key.created", "key.rotated", "key.revoked", "key.revoked", "company.created", "company.failed"}
	delivered := func() map[string]int {
		types := map[string]int{}
		seen := map[string]bool{}
		for _, r := range recv.all() {
			if seen[r.id] {
				continue
			}
			seen[r.id] = true
			var ev struct{ Type string }
			_ = json.Unmarshal(r.body, &ev)
			types[ev.Type]++
		}
		return types
	}
	waitFor(t, "every event delivered", func() bool {
		recent, err := hooks.Recent(ctx, 50)
		if err != nil || len(recent) < len(want) {
			return false
		}
		for _, d := range recent {
			if d.DeliveredAt == nil {
				return false
			}
		}
		return true
	})
	counts := map[string]int{}
	for _, w := range want {
		counts[w]++
	}
	if got := delivered(); fmt.Sprint(got) != fmt.Sprint(counts) {
		t.Errorf("events %v, want %v", got, counts)
	}
	// Every request verifies with the independent check; a wrong secret
	// or a changed body does not.
	var values []string
	for _, sa := range fake.ServiceAccounts(res.Company.OpenAIProjectID) {
		values = append(values, sa.KeyValue)
	}
	all := recv.all()
	for _, r := range all {
		if err := verify(secret, r); err != nil {
			t.Errorf("%s: %v", r.id, err)
		}
		if verify("whsec_"+base64.StdEncoding.EncodeToString([]byte("another secret")), r) == nil {
			t.Error("a wrong secret verifies")
		}
		tampered := r
		tampered.body = append([]byte(nil), r.body...)
		tampered.body[len(tampered.body)-2] ^= 1
		if verify(secret, tampered) == nil {
			t.Error("a changed body verifies")
		}
		if !strings.HasPrefix(r.id, "msg_") {
			t.Errorf("webhook-id %q", r.id)
		}
		if strings.Contains(string(r.body), "sk-") {
			t.Errorf("a webhook carries something like a key: %s", r.body)
		}
	}
	// The first request failed with 500 and was retried under the same id.
	times := 0
	for _, r := range all {
		if r.id == all[0].id {
			times++
		}
	}
	if times != 2 {
		t.Errorf("the first event was received %d times, want 2 (a 500, then the retry)", times)
	}
	recent, err := hooks.Recent(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	var retried webhook.Delivery
	for _, d := range recent {
		if d.EventID == all[0].id {
			retried = d
		}
		if d.DeliveredAt == nil {
			t.Errorf("delivery %s not delivered: %+v", d.EventID, d)
		}
	}
	if retried.Attempts != 2 || retried.LastStatus != 204 {
		t.Errorf("the retried delivery: %+v", retried)
	}
	// Resend by hand: the same event again, audited.
	before := len(recv.all())
	if err := hooks.Resend(ctx, retried.ID, audit.Actor{Email: "admin@example.com"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resend", func() bool { return len(recv.all()) > before })
	if last := recv.all()[before]; last.id != retried.EventID || verify(secret, last) != nil {
		t.Errorf("resent %s, want %s verified", last.id, retried.EventID)
	}
	var n int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'webhook.resend'`).Scan(&n)
	if n != 1 {
		t.Errorf("%d resend audit entries", n)
	}
	if err := hooks.Resend(ctx, 999999, audit.Actor{Email: "x"}); err != webhook.ErrNotFound {
		t.Errorf("resend of nothing: %v", err)
	}
	for _, r := range recv.all() {
		for _, v := range values {
			if strings.Contains(string(r.body), v) {
				t.Error("a webhook carries a key value")
			}
		}
	}
}

func TestSignMatchesTheSpecExample(t *testing.T) {
	t.Parallel()
	// The example of the Standard Webhooks specification.
	key, _ := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	got := webhook.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Errorf("Sign = %s", got)
	}
	if _, err := webhook.New(nil, "https://host.example/h", "whsec_%%%", nil); err == nil {
		t.Error("a bad secret is accepted")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
