package web_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"testing"

	"github.com/provisioner/provisioner/internal/auth"
)

// loginFrom signs in through the form as a client whose proxy forwards
// for xff.
func (a *testApp) loginFrom(xff, email, password string) int {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/admin/login", nil)
	req.Header.Set("X-Forwarded-For", xff)
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	token := parse(a.t, resp).Find(`input[name="csrf"]`).AttrOr("value", "")
	return a.postWith("/admin/login", url.Values{"csrf": {token}, "email": {email}, "password": {password}},
		map[string]string{"X-Forwarded-For": xff}).StatusCode
}

// Issue 12, finding 5: five wrong passwords for an email from one address
// made the right password fail from another for 15 minutes. Behind the
// trusted proxy, the attacker's address is slowed and the owner's is not.
func TestLogin_NoLockoutFromAnotherAddress(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true, trustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	app.createStaff("ops@example.com", auth.RoleAdmin)
	attacker, owner := app.newClient(), app.newClient()
	for i := range 5 {
		got := attacker.loginFrom("203.0.113.66", "ops@example.com", "not the password")
		if got != http.StatusUnauthorized && got != http.StatusTooManyRequests {
			t.Fatalf("attempt %d: status %d", i+1, got)
		}
	}
	if got := attacker.loginFrom("203.0.113.66", "ops@example.com", testStaffPassword); got != http.StatusTooManyRequests {
		t.Errorf("the failing address: status %d, want 429", got)
	}
	// A client that puts the owner's address in its own header is still
	// counted under its real (attacker) address.
	if got := attacker.loginFrom("198.51.100.20, 203.0.113.66", "ops@example.com", testStaffPassword); got != http.StatusTooManyRequests {
		t.Errorf("spoofed header from the failing address: status %d, want 429", got)
	}
	if got := owner.loginFrom("198.51.100.20", "ops@example.com", testStaffPassword); got != http.StatusSeeOther {
		t.Fatalf("right password from the owner's address: status %d, want 303", got)
	}
	if r, _ := owner.get("/admin/staff"); r.StatusCode != http.StatusOK {
		t.Errorf("owner signed in: GET /admin/staff = %d", r.StatusCode)
	}
}
