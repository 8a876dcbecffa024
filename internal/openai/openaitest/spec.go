package openaitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// SpecChecker checks HTTP exchanges against an OpenAPI document (OpenAI's
// published spec). Put its Transport under a client; afterwards Violations
// lists every way the traffic strayed from the document.
//
// What it checks, for every request:
//   - the path lies under the spec server's base path (/v1 of
//     https://api.openai.com/v1) and names an operation with that method;
//     requests may go to any host (the fake at 127.0.0.1), only the path
//     after the host counts;
//   - security (an "Authorization: Bearer <token>" header for the http
//     bearer schemes, AdminApiKeyAuth included), parameters and the JSON
//     body, with kin-openapi's openapi3filter (JSON Schema 2020-12 for 3.1);
//   - beyond the schemas, which do not forbid additional properties, the
//     strictness OpenAI applies: no body member, query parameter or
//     OpenAI-Beta header the operation does not declare, and no body where
//     the operation has none;
//
// and for every response whose body is JSON that parses:
//   - 2xx: the status must be documented and the body must match its schema;
//   - other documented statuses: the body must match their schema;
//   - undocumented error statuses (4xx/5xx) are not flagged; their body must
//     still be OpenAI's ErrorResponse (the one error shape of the spec).
//
// Bodies that are not JSON (truncated on purpose, empty) and exchanges
// that got no answer (connection dropped) are counted by Skipped, not
// flagged. A SpecChecker is safe for concurrent use.
type SpecChecker struct {
	doc       *openapi3.T
	router    routers.Router
	server    *url.URL // the spec's first server
	errSchema *openapi3.SchemaRef

	mu         sync.Mutex
	violations []string
	requests   int
	responses  int
	skipped    int
}

// NewSpecChecker loads and validates the OpenAPI document at specPath.
func NewSpecChecker(specPath string) (*SpecChecker, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromFile(specPath)
	if err != nil {
		return nil, fmt.Errorf("openaitest: load spec %s: %w", specPath, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openaitest: spec %s is invalid: %w", specPath, err)
	}
	if len(doc.Servers) == 0 {
		return nil, fmt.Errorf("openaitest: spec %s has no servers", specPath)
	}
	server, err := url.Parse(doc.Servers[0].URL)
	if err != nil || server.Host == "" {
		return nil, fmt.Errorf("openaitest: spec server %q is not an absolute URL", doc.Servers[0].URL)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openaitest: route spec %s: %w", specPath, err)
	}
	c := &SpecChecker{doc: doc, router: router, server: server}
	if doc.Components != nil {
		c.errSchema = doc.Components.Schemas["ErrorResponse"]
	}
	return c, nil
}

// Transport returns a RoundTripper that checks every exchange it carries
// through base (http.DefaultTransport if nil). It never changes what goes
// through: violations are only recorded.
func (c *SpecChecker) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &specTransport{c: c, base: base}
}

// Violations returns what was found so far, one line per problem, in order.
func (c *SpecChecker) Violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.violations)
}

// Checked returns how many requests were checked, and how many responses
// were checked against a schema.
func (c *SpecChecker) Checked() (requests, responses int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, c.responses
}

// Skipped returns how many exchanges had no response to check: no answer,
// a body that is not JSON, or a request that matched no operation.
func (c *SpecChecker) Skipped() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.skipped
}

func (c *SpecChecker) record(req *http.Request, what string, err error) {
	var msgs []string
	var me openapi3.MultiError
	if errors.As(err, &me) {
		for _, e := range me {
			msgs = append(msgs, e.Error())
		}
	} else {
		msgs = append(msgs, err.Error())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		c.violations = append(c.violations,
			redactSecrets(fmt.Sprintf("%s %s: %s: %s", req.Method, req.URL.Path, what, m)))
	}
}

func (c *SpecChecker) count(requests, responses, skipped int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests += requests
	c.responses += responses
	c.skipped += skipped
}

var secretPattern = regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/=-]{6,}|sk-[A-Za-z0-9_\-*.]{6,}`)

// redactSecrets keeps keys out of violation messages, which tests print.
func redactSecrets(s string) string {
	return secretPattern.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(strings.ToLower(m), "bearer") {
			return "Bearer [redacted]"
		}
		return "sk-[redacted]"
	})
}

type specTransport struct {
	c    *SpecChecker
	base http.RoundTripper
}

func (t *specTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	fwd := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		fwd.Body = io.NopCloser(bytes.NewReader(body))
		fwd.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		fwd.ContentLength = int64(len(body))
	}

	in := t.c.checkRequest(req, body)

	resp, err := t.base.RoundTrip(fwd)
	if err != nil {
		t.c.count(0, 0, 1)
		return resp, err
	}
	data, readErr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = &replayBody{r: bytes.NewReader(data), err: readErr}
	if readErr != nil || in == nil {
		t.c.count(0, 0, 1)
		return resp, nil
	}
	t.c.checkResponse(req, in, resp, data)
	return resp, nil
}

// replayBody gives back a response body read ahead, then the read error, if
// any, that cut it short.
type replayBody struct {
	r   *bytes.Reader
	err error
}

func (b *replayBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.err != nil {
		return n, b.err
	}
	return n, err
}

func (b *replayBody) Close() error { return nil }

// checkRequest validates req; it returns the validation input to check the
// response with, nil if the request matched no operation.
func (c *SpecChecker) checkRequest(req *http.Request, body []byte) *openapi3filter.RequestValidationInput {
	c.count(1, 0, 0)
	base := strings.TrimSuffix(c.server.Path, "/")
	if !strings.HasPrefix(req.URL.Path, base+"/") {
		c.record(req, "request", fmt.Errorf("path is not under the spec server's base path %q", base))
		return nil
	}
	// Route on the spec's own server URL: only the path after the host counts.
	u := *c.server
	u.Path, u.RawPath, u.RawQuery = req.URL.Path, req.URL.RawPath, req.URL.RawQuery
	vreq := req.Clone(req.Context())
	vreq.URL, vreq.Host = &u, u.Host
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	vreq.ContentLength = int64(len(body))

	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		c.record(req, "request", fmt.Errorf("no operation in the spec: %w", err))
		return nil
	}
	opts := &openapi3filter.Options{
		MultiError:                        true,
		SkipSettingDefaults:               true,
		RejectWhenRequestBodyNotSpecified: true,
		AuthenticationFunc:                bearerAuth,
	}
	opts.WithCustomSchemaErrorFunc(schemaError)
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		c.record(req, "request", err)
	}
	for _, err := range strictRequest(route, vreq, body) {
		c.record(req, "request", err)
	}
	return in
}

// bearerAuth accepts an "Authorization: Bearer <token>" header for the http
// bearer schemes (ApiKeyAuth, AdminApiKeyAuth); it knows no other scheme.
func bearerAuth(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	ss := in.SecurityScheme
	if ss == nil || ss.Type != "http" || !strings.EqualFold(ss.Scheme, "bearer") {
		return fmt.Errorf("security scheme %q is not supported by the checker", in.SecuritySchemeName)
	}
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return fmt.Errorf("%s needs an \"Authorization: Bearer <key>\" header", in.SecuritySchemeName)
	}
	return nil
}

// strictRequest finds what OpenAI would refuse although the schemas allow
// it: undeclared query parameters, OpenAI-Beta headers and body members.
func strictRequest(route *routers.Route, req *http.Request, body []byte) []error {
	var errs []error
	declared := func(in, name string) bool {
		return route.Operation.Parameters.GetByInAndName(in, name) != nil ||
			route.PathItem.Parameters.GetByInAndName(in, name) != nil
	}
	var names []string
	for name := range req.URL.Query() {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !declared(openapi3.ParameterInQuery, name) {
			errs = append(errs, fmt.Errorf("query parameter %q is not declared by %s", name, route.Operation.OperationID))
		}
	}
	if req.Header.Get("OpenAI-Beta") != "" && !declared(openapi3.ParameterInHeader, "OpenAI-Beta") {
		errs = append(errs, fmt.Errorf("header OpenAI-Beta is not declared by %s", route.Operation.OperationID))
	}
	rb := route.Operation.RequestBody
	if rb == nil || rb.Value == nil || len(body) == 0 {
		return errs
	}
	mt := rb.Value.Content.Get("application/json")
	var v any
	if mt == nil || mt.Schema == nil || json.Unmarshal(body, &v) != nil {
		return errs // ValidateRequest has said what is wrong
	}
	for _, path := range undeclared(mt.Schema, v, "") {
		errs = append(errs, fmt.Errorf("request body member %q is not declared by the schema (OpenAI rejects unrecognized arguments)", path))
	}
	return errs
}

// undeclared lists the members of v that an object schema with declared
// properties and no additionalProperties does not know, recursively.
func undeclared(ref *openapi3.SchemaRef, v any, prefix string) []string {
	if ref == nil || ref.Value == nil {
		return nil
	}
	s := ref.Value
	obj, ok := v.(map[string]any)
	if !ok || len(s.Properties) == 0 {
		return nil
	}
	open := s.AdditionalProperties.Schema != nil ||
		s.AdditionalProperties.Has != nil && *s.AdditionalProperties.Has
	var out []string
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		prop, known := s.Properties[k]
		switch {
		case known:
			out = append(out, undeclared(prop, obj[k], prefix+k+".")...)
		case !open:
			out = append(out, prefix+k)
		}
	}
	return out
}

// schemaError words a schema violation in one line: where, and why (the
// default message dumps the whole schema and value).
func schemaError(e *openapi3.SchemaError) string {
	return fmt.Sprintf("at /%s: %s", strings.Join(e.JSONPointer(), "/"), e.Reason)
}

func (c *SpecChecker) checkResponse(req *http.Request, in *openapi3filter.RequestValidationInput, resp *http.Response, data []byte) {
	var value any
	if len(bytes.TrimSpace(data)) == 0 || json.Unmarshal(data, &value) != nil {
		c.count(0, 0, 1) // not JSON: a deliberately broken answer, or none
		return
	}
	status := resp.StatusCode
	responses := in.Route.Operation.Responses
	documented := responses != nil && (responses.Status(status) != nil || responses.Default() != nil)
	switch {
	case documented || status >= 200 && status < 300:
		opts := &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true}
		opts.WithCustomSchemaErrorFunc(schemaError)
		err := openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in,
			Status:                 status,
			Header:                 resp.Header,
			Body:                   io.NopCloser(bytes.NewReader(data)),
			Options:                opts,
		})
		if err != nil {
			c.record(req, fmt.Sprintf("response %d", status), err)
		}
	case status >= 400 && c.errSchema != nil && c.errSchema.Value != nil:
		err := c.errSchema.Value.VisitJSON(value, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors(),
			openapi3.VisitAsResponse(), openapi3.SetSchemaErrorMessageCustomizer(schemaError))
		if err != nil {
			c.record(req, fmt.Sprintf("response %d (undocumented status, checked as ErrorResponse)", status), err)
		}
	default:
		c.count(0, 0, 1)
		return
	}
	c.count(0, 1, 0)
}
