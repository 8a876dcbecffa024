// Package webhook tells the host app what happened, by signed HTTP POSTs
// (the Standard Webhooks scheme, https://www.standardwebhooks.com):
//
//   - an event is written (webhook_deliveries) and its delivery job
//     enqueued in the very transaction that records what it reports, so
//     neither exists without the other;
//   - River delivers it, retrying with backoff until the host app answers
//     2xx or the attempts run out; every attempt's status is kept for the
//     deliveries page, where an admin can send one again;
//   - each request carries webhook-id (the event's ID, the same for every
//     retry, so the receiver can deduplicate), webhook-timestamp (unix
//     seconds) and webhook-signature "v1,<base64 HMAC-SHA256 of
//     id.timestamp.body>" keyed with WEBHOOK_SECRET's base64-decoded bytes;
//   - the body is {"type", "timestamp", "data"}: IDs and states only, never
//     a key value (the host app reads that with keys:read).
//
// Without WEBHOOK_URL, Emit does nothing.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// Event types.
const (
	CompanyCreated     = "company.created"
	CompanyProvisioned = "company.provisioned"
	CompanyFailed      = "company.failed"
	KeyCreated         = "key.created"
	KeyRotated         = "key.rotated"
	KeyRevoked         = "key.revoked"
)

// ActionResend is the audit action of a delivery sent again by hand.
const ActionResend = "webhook.resend"

// QueueWebhooks is the River queue of deliveries.
const QueueWebhooks = "webhooks"

// Service emits and delivers events.
type Service struct {
	pool   *pgxpool.Pool
	q      *dbgen.Queries
	url    string
	secret []byte
	client *http.Client
	river  *river.Client[pgx.Tx]
	// Now is the clock of the webhook-timestamp.
	Now func() time.Time
}

// ParseSecret decodes a Standard Webhooks secret ("whsec_" + base64).
func ParseSecret(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), "whsec_"))
	if err != nil || len(b) == 0 {
		return nil, errors.New("webhook: the secret is not base64 (whsec_…)")
	}
	return b, nil
}

// New returns a Service posting to url (none: disabled) with secret.
func New(pool *pgxpool.Pool, url, secret string, client *http.Client) (*Service, error) {
	s := &Service{pool: pool, q: dbgen.New(pool), url: url, client: client, Now: time.Now}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	if url != "" {
		key, err := ParseSecret(secret)
		if err != nil {
			return nil, err
		}
		s.secret = key
	}
	return s, nil
}

// SetRiver gives the service its River client (built after it).
func (s *Service) SetRiver(rc *river.Client[pgx.Tx]) { s.river = rc }

// Enabled reports whether WEBHOOK_URL is set.
func (s *Service) Enabled() bool { return s != nil && s.url != "" }

// Emit records an event and enqueues its delivery, in tx. data must hold
// no secret; companyID 0 is none.
func (s *Service) Emit(ctx context.Context, tx pgx.Tx, eventType string, companyID int64, data map[string]any) error {
	if !s.Enabled() || s.river == nil {
		return nil
	}
	if data == nil {
		data = map[string]any{}
	}
	if companyID != 0 {
		data["company_id"] = companyID
	}
	id := "msg_" + randomHex(16)
	payload, err := json.Marshal(map[string]any{"type": eventType, "timestamp": s.Now().UTC().Format(time.RFC3339), "data": data})
	if err != nil {
		return fmt.Errorf("webhook %s: %w", eventType, err)
	}
	var cid *int64
	if companyID != 0 {
		cid = &companyID
	}
	row, err := s.q.WithTx(tx).InsertWebhookDelivery(ctx, dbgen.InsertWebhookDeliveryParams{EventID: id, EventType: eventType, CompanyID: cid, Payload: payload})
	if err != nil {
		return fmt.Errorf("webhook %s: %w", eventType, err)
	}
	if _, err := s.river.InsertTx(ctx, tx, DeliverArgs{DeliveryID: row.ID}, nil); err != nil {
		return fmt.Errorf("webhook %s: enqueue: %w", eventType, err)
	}
	return nil
}

// Sign returns the webhook-signature header value for a message.
func Sign(secret []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Deliver posts a delivery once and records the attempt. It returns an
// error (for River to retry) unless the host app answered 2xx.
func (s *Service) Deliver(ctx context.Context, deliveryID int64) error {
	d, err := s.q.GetWebhookDelivery(ctx, deliveryID)
	if errors.Is(err, pgx.ErrNoRows) {
		return river.JobCancel(fmt.Errorf("webhook delivery %d is gone", deliveryID))
	}
	if err != nil {
		return err
	}
	if !s.Enabled() {
		return river.JobCancel(errors.New("webhooks are disabled"))
	}
	ts := s.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(d.Payload))
	if err != nil {
		return river.JobCancel(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Provisioner-Webhooks/1")
	req.Header.Set("webhook-id", d.EventID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(s.secret, d.EventID, ts, d.Payload))
	resp, err := s.client.Do(req)
	var status *int32
	errText := ""
	if err != nil {
		errText = "no answer: " + scrubURL(err.Error(), s.url)
	} else {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		v := int32(resp.StatusCode)
		status = &v
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			errText = fmt.Sprintf("answered %d", resp.StatusCode)
		}
	}
	if rerr := s.q.RecordWebhookAttempt(context.WithoutCancel(ctx), dbgen.RecordWebhookAttemptParams{
		ID: d.ID, LastStatus: status, LastError: errText, Delivered: errText == "",
	}); rerr != nil {
		return rerr
	}
	if errText != "" {
		return fmt.Errorf("webhook %s to the host app: %s", d.EventID, errText)
	}
	return nil
}

// scrubURL keeps the webhook URL's query (which may hold a token) out of
// error texts.
func scrubURL(msg, url string) string {
	if i := strings.IndexByte(url, '?'); i >= 0 {
		msg = strings.ReplaceAll(msg, url[i:], "?[redacted]")
	}
	return msg
}

// Delivery is one event and its delivery state, for the deliveries page.
type Delivery struct {
	ID            int64
	EventID       string
	EventType     string
	CompanyID     int64
	CreatedAt     time.Time
	Attempts      int
	LastAttemptAt *time.Time
	LastStatus    int
	LastError     string
	DeliveredAt   *time.Time
}

// Recent returns the latest n deliveries, newest first.
func (s *Service) Recent(ctx context.Context, n int) ([]Delivery, error) {
	rows, err := s.q.ListWebhookDeliveries(ctx, int32(n))
	if err != nil {
		return nil, fmt.Errorf("webhook deliveries: %w", err)
	}
	out := make([]Delivery, len(rows))
	for i, r := range rows {
		d := Delivery{ID: r.ID, EventID: r.EventID, EventType: r.EventType, CreatedAt: r.CreatedAt, Attempts: int(r.Attempts),
			LastAttemptAt: r.LastAttemptAt, LastError: r.LastError, DeliveredAt: r.DeliveredAt}
		if r.CompanyID != nil {
			d.CompanyID = *r.CompanyID
		}
		if r.LastStatus != nil {
			d.LastStatus = int(*r.LastStatus)
		}
		out[i] = d
	}
	return out, nil
}

// ErrNotFound is returned for an unknown delivery.
var ErrNotFound = errors.New("webhook: no such delivery")

// Resend enqueues a delivery again (same event ID), audited.
func (s *Service) Resend(ctx context.Context, deliveryID int64, actor audit.Actor) error {
	if !s.Enabled() || s.river == nil {
		return ErrDisabled
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		d, err := s.q.WithTx(tx).GetWebhookDelivery(ctx, deliveryID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := s.river.InsertTx(ctx, tx, DeliverArgs{DeliveryID: d.ID, Resend: time.Now().UnixNano()}, nil); err != nil {
			return err
		}
		return audit.Record(ctx, s.q.WithTx(tx), audit.Entry{Actor: actor, Action: ActionResend, After: d.EventID, Detail: d.EventType})
	})
}

// ErrDisabled is returned when WEBHOOK_URL is not set.
var ErrDisabled = errors.New("webhook: webhooks are disabled (WEBHOOK_URL is not set)")

// DeliverArgs is the job that delivers one event. Resend distinguishes a
// manual resend from the first job.
type DeliverArgs struct {
	DeliveryID int64 `json:"delivery_id"`
	Resend     int64 `json:"resend,omitempty"`
}

// Kind implements river.JobArgs.
func (DeliverArgs) Kind() string { return "webhook_deliver" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: 12}
}

// Worker delivers DeliverArgs jobs; River's backoff spaces the retries.
type Worker struct {
	river.WorkerDefaults[DeliverArgs]
	s *Service
}

// Work implements river.Worker.
func (w *Worker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	return w.s.Deliver(ctx, job.Args.DeliveryID)
}

// Register adds the delivery worker to workers.
func (s *Service) Register(workers *river.Workers) { river.AddWorker(workers, &Worker{s: s}) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
