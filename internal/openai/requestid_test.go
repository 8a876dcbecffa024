package openai_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// headerTransport replaces the X-Request-Id of every answer, as a hostile
// server or proxy could.
type headerTransport struct {
	base http.RoundTripper
	id   string
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if resp != nil {
		resp.Header.Set("X-Request-Id", t.id)
	}
	return resp, err
}

// Issue 12, finding 7: a request ID is kept only when it looks like one,
// and redacted like every other OpenAI text; otherwise it is dropped.
func TestRequestID_OnlyWhenItLooksLikeOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name, header, want string
	}{
		{"Real", "req_0123456789abcdef0123456789abcdef", "req_0123456789abcdef0123456789abcdef"},
		{"TooLong", "req_" + strings.Repeat("a", 200), ""},
		{"Markup", `<script>alert(1)</script>`, ""},
		{"Spaces", "req 1; DROP TABLE", ""},
		{"NonASCII", "req_\u00e9t\u00e9", ""},
		{"KeyLookalike", "sk-admin-abcdefghijklmnop", "sk-[redacted]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(o *openai.Options) {
				o.HTTPClient = &http.Client{Transport: headerTransport{base: http.DefaultTransport, id: tt.header}}
			})
			p, err := e.client.CreateProject(ctx, "Request ID Co")
			if err != nil {
				t.Fatal(err)
			}
			if p.RequestID != tt.want {
				t.Errorf("project RequestID = %q, want %q", p.RequestID, tt.want)
			}
			e.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: http.StatusBadRequest})
			_, err = e.client.CreateProject(ctx, "Request ID Co 2")
			oe, ok := openai.AsError(err)
			if !ok {
				t.Fatalf("err = %v, want *openai.Error", err)
			}
			if oe.RequestID != tt.want {
				t.Errorf("error RequestID = %q, want %q", oe.RequestID, tt.want)
			}
			if tt.want == "" && strings.Contains(err.Error(), "[request") {
				t.Errorf("error text carries a dropped request ID: %s", err)
			}
			if strings.Contains(err.Error(), "abcdefghijklmnop") {
				t.Errorf("error text carries the key-like ID: %s", err)
			}
		})
	}
}
