package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	sdk "github.com/openai/openai-go/v3"
)

// Kind says what a caller should do about an Error.
type Kind int

const (
	// Transient errors may go away: timeouts, resets, 429, 5xx. Retry later.
	Transient Kind = iota + 1
	// Permanent errors will not go away by retrying: 400, 401, 403, 404,
	// the organization's project limit.
	Permanent
)

func (k Kind) String() string {
	switch k {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// Error is a failed call to OpenAI, with what OpenAI said about it.
type Error struct {
	Op   string // endpoint name, e.g. "create_project"
	Kind Kind
	// Uncertain is true when a create may have happened even though the call
	// failed: the request was sent but no trustworthy answer came back
	// (timeout, reset, 5xx, malformed body). The caller must look for the
	// project before creating another.
	Uncertain  bool
	StatusCode int // 0 when no HTTP answer came
	Type       string
	Code       string
	Message    string
	RequestID  string
	// RetryAfter is the wait a 429 asked for, zero if none was given.
	RetryAfter time.Duration
	// ProjectLimit is true when the organization cannot hold more projects.
	ProjectLimit bool
	Err          error // the underlying network or decoding error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("openai ")
	b.WriteString(strings.ReplaceAll(e.Op, "_", " "))
	b.WriteString(": ")
	switch {
	case e.StatusCode != 0:
		fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
		if e.Code != "" {
			fmt.Fprintf(&b, " (%s)", e.Code)
		} else if e.Type != "" {
			fmt.Fprintf(&b, " (%s)", e.Type)
		}
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
		if e.Err != nil {
			b.WriteString(": ")
			b.WriteString(e.Err.Error())
		}
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.RequestID)
	}
	return redact(b.String())
}

func (e *Error) Unwrap() error { return e.Err }

// NotFound reports whether OpenAI answered 404.
func (e *Error) NotFound() bool { return e.StatusCode == http.StatusNotFound }

// Reason is a short, human explanation for the dashboard.
func (e *Error) Reason() string {
	switch {
	case e.ProjectLimit:
		return "the OpenAI organization has reached its project limit"
	case e.StatusCode == http.StatusUnauthorized:
		return "OpenAI rejected the admin key (401)"
	case e.StatusCode == http.StatusForbidden:
		return "the admin key may not create projects (403)"
	case e.StatusCode == http.StatusTooManyRequests:
		return "rate limited by OpenAI (429)"
	case e.StatusCode >= 500:
		return fmt.Sprintf("OpenAI server error (%d)", e.StatusCode)
	case e.Uncertain && e.StatusCode == 0:
		return "no answer from OpenAI (timeout or connection lost)"
	}
	return e.Error()
}

// AsError returns err as an *Error if it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsTransient reports whether err is worth retrying.
func IsTransient(err error) bool {
	e, ok := AsError(err)
	return ok && e.Kind == Transient
}

// keyPattern matches anything that looks like an OpenAI key, so that no
// error string we produce can carry one, whatever a server echoes back.
var keyPattern = regexp.MustCompile(`sk-[A-Za-z0-9_\-*.]{6,}`)

func redact(s string) string { return keyPattern.ReplaceAllString(s, "sk-[redacted]") }

// wrap classifies err from the SDK into an *Error.
func (c *Client) wrap(op string, resp *http.Response, err error) error {
	e := &Error{Op: op}
	if resp != nil {
		e.RequestID = requestID(resp.Header.Get(requestIDHeader))
		e.StatusCode = resp.StatusCode
	}
	var apiErr *sdk.Error
	switch {
	case errors.As(err, &apiErr):
		e.StatusCode = apiErr.StatusCode
		e.Type, e.Code, e.Message = apiErr.Type, apiErr.Code, apiErr.Message
		if apiErr.Response != nil {
			e.RequestID = requestID(apiErr.Response.Header.Get(requestIDHeader))
			e.RetryAfter = parseRetryAfter(apiErr.Response.Header.Get(retryAfterHeader), time.Now())
		}
		classifyStatus(e)
	case errors.Is(err, errMalformed) || errors.Is(err, errMalformedServiceAccount) || isDecodeError(err):
		// OpenAI answered 2xx but we could not read a project: it was
		// probably created.
		e.Kind, e.Uncertain, e.Err = Transient, true, fmt.Errorf("malformed response: %w", err)
	case isDialError(err):
		// The request never left: nothing can have been created.
		e.Kind, e.Err = Transient, err
	case errors.Is(err, context.Canceled) && !isDeadline(err):
		e.Kind, e.Uncertain, e.Err = Transient, true, err
	default:
		// Timeouts, resets, EOF: the request may have been processed.
		e.Kind, e.Uncertain, e.Err = Transient, true, err
	}
	if !createOps[op] {
		e.Uncertain = false
	}
	// Some transports put the full URL or request into the error; make sure
	// the key cannot ride along.
	if e.Err != nil {
		e.Err = scrubbed{e.Err, c.key}
	}
	e.Message = strings.ReplaceAll(e.Message, c.key, "[redacted]")
	return e
}

func classifyStatus(e *Error) {
	switch s := e.StatusCode; {
	case s == http.StatusTooManyRequests:
		e.Kind = Transient
	case s == http.StatusRequestTimeout || s == http.StatusConflict:
		e.Kind = Transient
	case s >= 500:
		// The server may have failed after creating the project.
		e.Kind, e.Uncertain = Transient, true
	default:
		e.Kind = Permanent
	}
	// OpenAI documents a per-organization project limit but no error code
	// for it; a 4xx that speaks of it is final, whatever its status.
	msg := strings.ToLower(e.Message + " " + e.Code)
	if e.Op == EndpointCreate && e.StatusCode < 500 && strings.Contains(msg, "project") &&
		(strings.Contains(msg, "limit") || strings.Contains(msg, "maximum")) {
		e.Kind, e.ProjectLimit = Permanent, true
	}
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs > 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func isDecodeError(err error) bool {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syn) || errors.As(err, &typ) ||
		errors.Is(err, io.ErrUnexpectedEOF) && !isNetError(err) ||
		strings.Contains(err.Error(), "unmarshal") || strings.Contains(err.Error(), "invalid character")
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func isDeadline(err error) bool { return errors.Is(err, context.DeadlineExceeded) }

// scrubbed hides the key in an underlying error's text.
type scrubbed struct {
	err error
	key string
}

func (s scrubbed) Error() string {
	return redact(strings.ReplaceAll(s.err.Error(), s.key, "[redacted]"))
}
func (s scrubbed) Unwrap() error { return s.err }

// GoString keeps the key out of %#v, which would print the key field.
func (s scrubbed) GoString() string { return strconv.Quote(s.Error()) }
