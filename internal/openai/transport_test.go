package openai_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/openai"
)

// TestClientKeepsItsConnections: a client built without an HTTP client of
// the caller's keeps a connection per call in flight between rounds of
// concurrent calls. Go's default transport keeps two idle connections a
// host, so every round of 32 calls would dial about 30 new ones.
func TestClientKeepsItsConnections(t *testing.T) {
	t.Parallel()
	var dialed atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // keep the calls of a round in flight together
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"proj_abc","object":"organization.project","name":"Acme","created_at":1711471533,"status":"active"}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	c, err := openai.New(openai.Options{AdminKey: adminKey, BaseURL: srv.URL, Governor: newGovernor(t)})
	if err != nil {
		t.Fatal(err)
	}
	const inFlight, rounds = 32, 4
	for range rounds {
		var wg sync.WaitGroup
		for range inFlight {
			wg.Go(func() {
				if _, err := c.GetProject(context.Background(), "proj_abc"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if n := dialed.Load(); n > inFlight+inFlight/4 {
		t.Errorf("%d connections dialed for %d rounds of %d calls, want at most about %d (one per call in flight)", n, rounds, inFlight, inFlight)
	}
}
