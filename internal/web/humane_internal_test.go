package web

import "testing"

// Staff read a sentence; the technical text goes behind Details.
func TestHumanError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		raw, want  string
		wantDetail bool
	}{
		{`openai create project: Post "http://127.0.0.1:9/v1/organization/projects": dial tcp 127.0.0.1:9: connect: connection refused`, "OpenAI could not be reached (connection refused).", true},
		{`openai list projects: Get "https://api.openai.invalid/v1/organization/projects": dial tcp: lookup api.openai.invalid: no such host`, "OpenAI could not be reached (its address does not resolve).", true},
		{"no answer from OpenAI (timeout or connection lost)", "OpenAI did not answer in time.", true},
		{"openai create project: 401 Unauthorized (invalid_api_key): Incorrect API key provided [request req_1]", "OpenAI rejected the admin key (401): check OPENAI_ADMIN_KEY.", true},
		{"the admin key may not create projects (403)", "The key may not manage projects (403): OPENAI_ADMIN_KEY must be an organization admin key (sk-admin-…).", true},
		{"gave up after 10 attempts: rate limited by OpenAI (429)", "Gave up after 10 attempts. OpenAI is rate limiting the requests (429); they are retried with a pause.", true},
		{"the OpenAI organization has reached its project limit", "The OpenAI organization has reached its project limit: archive unused projects or ask OpenAI to raise it.", true},
		{"openai create project: something odd: happened", "The call to OpenAI failed.", true},
		{"backfill run 3 was cancelled before this company got its project; retry it, or run a backfill", "Backfill run 3 was cancelled before this company got its project; retry it, or run a backfill.", false},
		{"", "", false},
	} {
		p := humanError(tt.raw)
		if p.Sentence != tt.want {
			t.Errorf("humanError(%q) = %q, want %q", tt.raw, p.Sentence, tt.want)
		}
		if got := p.Detail != ""; got != tt.wantDetail {
			t.Errorf("humanError(%q) detail %q, want detail: %v", tt.raw, p.Detail, tt.wantDetail)
		}
	}
}
