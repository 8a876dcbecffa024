package web

import (
	"regexp"
	"strings"

	"github.com/provisioner/provisioner/views/components"
)

// Staff read what went wrong as a sentence; the stored technical text
// (Go's error chain, OpenAI's body, the request ID) stays one click away
// behind a "Details" disclosure, for whoever has to dig. The sentences are
// matched on the stored text because that text is all a row keeps: it was
// written by internal/openai and internal/provision, whose wording these
// patterns follow.

// humanRule maps a pattern of the technical text to a sentence.
type humanRule struct {
	match    func(lower string) bool
	sentence string
}

func has(parts ...string) func(string) bool {
	return func(s string) bool {
		for _, p := range parts {
			if strings.Contains(s, p) {
				return true
			}
		}
		return false
	}
}

// humanRules are tried in order; the first match gives the sentence.
var humanRules = []humanRule{
	{has("connection refused"), "OpenAI could not be reached (connection refused)."},
	{has("no such host", "server misbehaving"), "OpenAI could not be reached (its address does not resolve)."},
	{has("network is unreachable", "no route to host"), "OpenAI could not be reached (no network route)."},
	{has("project limit"), "The OpenAI organization has reached its project limit: archive unused projects or ask OpenAI to raise it."},
	{has("401", "invalid_api_key", "rejected the admin key"), "OpenAI rejected the admin key (401): check OPENAI_ADMIN_KEY."},
	{has("403", "may not create projects"), "The key may not manage projects (403): OPENAI_ADMIN_KEY must be an organization admin key (sk-admin-…)."},
	{has("429", "rate limit"), "OpenAI is rate limiting the requests (429); they are retried with a pause."},
	{has("deadline exceeded", "timeout", "timed out", "no answer from openai"), "OpenAI did not answer in time."},
	{has("connection reset", "eof", "broken pipe", "connection lost"), "The connection to OpenAI was lost before it answered."},
	{has("server error", " 500 ", " 502 ", " 503 ", " 504 "), "OpenAI had a server error; it is retried."},
	{has("no openai admin key", "openai_admin_key is not set", "no admin key"), "No OpenAI admin key was configured, so no project was created."},
	{has("cannot parse", "unexpected end of json", "malformed"), "OpenAI's answer could not be read."},
}

// gaveUp is the prefix provision writes when a company's attempts ran out.
var gaveUp = regexp.MustCompile(`^gave up after (\d+) attempts: `)

// humanSentence is the staff sentence for a stored error, and whether it
// differs from the text (so the text is worth a disclosure).
func humanSentence(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", false
	}
	prefix, rest := "", raw
	if m := gaveUp.FindStringSubmatch(raw); m != nil {
		prefix, rest = "Gave up after "+m[1]+" attempts. ", raw[len(m[0]):]
	}
	lower := " " + strings.ToLower(rest) + " "
	for _, r := range humanRules {
		if r.match(lower) {
			return prefix + r.sentence, true
		}
	}
	if strings.HasPrefix(lower, " openai ") || strings.Contains(rest, ": ") {
		return prefix + "The call to OpenAI failed.", true
	}
	// Already a sentence of ours (e.g. "backfill run 3 was cancelled …").
	s := strings.ToUpper(rest[:1]) + rest[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return prefix + s, prefix != ""
}

// humanError is the props of components.ErrorText for a stored error.
func humanError(raw string) components.ErrorTextProps {
	sentence, differs := humanSentence(raw)
	p := components.ErrorTextProps{Sentence: sentence}
	if differs {
		p.Detail = strings.TrimSpace(raw)
	}
	return p
}
