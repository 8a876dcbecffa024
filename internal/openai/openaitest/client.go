package openaitest

import (
	"net/http"
	"os"
	"testing"

	"github.com/provisioner/provisioner/internal/openai"
)

// NewClient returns the real OpenAI client pointed at s, with opts'
// AdminKey, Timeout and Observe (BaseURL and HTTPClient are set here). When
// OPENAI_SPEC names the spec file, every exchange is checked against it and
// each violation fails t at its end; a set but unusable OPENAI_SPEC fails t
// at once, so a missing spec can never pass as a clean run. The checker is
// nil when OPENAI_SPEC is unset.
func (s *Server) NewClient(t testing.TB, opts openai.Options) (*openai.Client, *SpecChecker) {
	t.Helper()
	httpClient := &http.Client{}
	var checker *SpecChecker
	if path := os.Getenv("OPENAI_SPEC"); path != "" {
		var err error
		if checker, err = NewSpecChecker(path); err != nil {
			t.Fatalf("OPENAI_SPEC is set but the spec cannot be loaded: %v", err)
		}
		httpClient.Transport = checker.Transport(nil)
		t.Cleanup(func() {
			for _, v := range checker.Violations() {
				t.Errorf("OpenAI spec violation: %s", v)
			}
		})
	}
	opts.BaseURL, opts.HTTPClient = s.URL, httpClient
	if opts.Governor == nil {
		opts.Governor = NewGovernor(t)
	}
	c, err := openai.New(opts)
	if err != nil {
		t.Fatalf("openaitest: client: %v", err)
	}
	return c, checker
}
