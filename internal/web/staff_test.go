package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
)

// createStaff adds a staff user without signing in.
func (a *testApp) createStaff(email string, role auth.Role) auth.User {
	a.t.Helper()
	acc, err := a.auth.CreateUser(context.Background(), audit.Actor{Email: "test"},
		auth.NewAccount{Email: email, Role: role, Password: testStaffPassword})
	if err != nil {
		a.t.Fatal(err)
	}
	return acc.User
}

// countStaff counts staff users.
func (a *testApp) countStaff() int {
	a.t.Helper()
	var n int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM staff_users`).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

func (a *testApp) staffDisabled(id int64) bool {
	a.t.Helper()
	var disabled bool
	if err := a.pool.QueryRow(context.Background(), `SELECT disabled FROM staff_users WHERE id = $1`, id).Scan(&disabled); err != nil {
		a.t.Fatal(err)
	}
	return disabled
}

func flashes(doc *goquery.Document) []string {
	var out []string
	doc.Find(`[data-testid="flash"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.Join(strings.Fields(s.Text()), " "))
	})
	return out
}

func TestLogin_OK(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	admin := app.loginAs(auth.RoleAdmin)

	resp, doc := app.get("/admin/staff")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/staff as admin: status %d", resp.StatusCode)
	}
	if got := strings.TrimSpace(doc.Find("#nav-user").Text()); got != admin.Email {
		t.Errorf("nav user = %q, want %q", got, admin.Email)
	}
	row := doc.Find(`[data-testid="staff-row"][data-email="` + admin.Email + `"]`)
	if row.Length() != 1 {
		t.Fatalf("no row for %s", admin.Email)
	}
	if got := row.Find(`[data-testid="staff-last-login"]`).Text(); got == "Never" || got == "" {
		t.Errorf("last login = %q, want the login time", got)
	}
	if got := row.Find(`[data-testid="staff-role"]`).AttrOr("data-role", ""); got != "admin" {
		t.Errorf("role badge = %q, want admin", got)
	}

	// Support staff are signed in too, but staff management is for admins.
	support := app.newClient()
	support.loginAs(auth.RoleSupport)
	resp, doc = support.get("/admin/staff")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET /admin/staff as support: status %d, want 403", resp.StatusCode)
	}
	if got := doc.Find(`[data-testid="error-message"]`).Text(); got != "Only admins may do that." {
		t.Errorf("403 message = %q", got)
	}

	// Already signed in: the login page sends you on.
	resp, _ = app.get("/admin/login?next=%2Fadmin%2Fstaff")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/staff" {
		t.Errorf("GET /admin/login when signed in: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// The answer is the same whether the email exists or not.
func TestLogin_Failure(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.createStaff("ops@example.com", auth.RoleSupport)

	type answer struct {
		status int
		msg    string
	}
	try := func(email, password string) answer {
		t.Helper()
		resp, doc := app.login(email, password, "")
		if c := sessionCookie(resp); c != nil && c.Value != "" {
			// A cookie may carry flashes, but it must not sign anyone in.
			if r, _ := app.get("/admin/staff"); r.StatusCode != http.StatusSeeOther {
				t.Errorf("failed login for %s signed in: GET /admin/staff status %d", email, r.StatusCode)
			}
		}
		if got := doc.Find(`#password`).AttrOr("value", ""); got != "" {
			t.Errorf("password echoed back: %q", got)
		}
		if got := doc.Find(`#email`).AttrOr("value", ""); got != email {
			t.Errorf("email value = %q, want %q kept", got, email)
		}
		return answer{resp.StatusCode, strings.TrimSpace(doc.Find("#login-error").Text())}
	}
	wrong := try("ops@example.com", "not the password")
	unknown := try("nobody@example.com", "not the password")
	if wrong != unknown {
		t.Errorf("wrong password → %+v, unknown email → %+v; want the same answer", wrong, unknown)
	}
	if wrong.status != http.StatusUnauthorized || !strings.Contains(wrong.msg, "Email or password is incorrect.") {
		t.Errorf("answer = %+v, want 401 with the generic message", wrong)
	}
}

func TestLogin_ThrottlePerAccount(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.createStaff("ops@example.com", auth.RoleSupport)
	for i := range auth.DefaultThrottle.FreePerPair + 1 {
		if resp, _ := app.login("OPS@example.com", "not the password", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp, doc := app.login("ops@example.com", testStaffPassword, "")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password right after the failures from the same address: status %d, want 429", resp.StatusCode)
	}
	if got := strings.TrimSpace(doc.Find("#login-error").Text()); !strings.Contains(got, "Too many attempts, try again in 30 seconds.") {
		t.Errorf("message = %q", got)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 29 || ra > 31 {
		t.Errorf("Retry-After = %q, want about 30", resp.Header.Get("Retry-After"))
	}
	if r, _ := app.get("/admin/staff"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("throttled login signed in: GET /admin/staff status %d", r.StatusCode)
	}
}

func TestLogin_ThrottlePerIP(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.createStaff("ops@example.com", auth.RoleSupport)
	for i := range auth.DefaultThrottle.MaxPerAddr {
		email := "guess" + strconv.Itoa(i) + "@example.com"
		if resp, _ := app.login(email, "not the password", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp, doc := app.login("ops@example.com", testStaffPassword, "")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password from a throttled IP: status %d, want 429", resp.StatusCode)
	}
	if got := doc.Find("#login-error").Text(); !strings.Contains(got, "Too many attempts") {
		t.Errorf("message = %q", got)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.loginAs(auth.RoleAdmin)
	base, _ := url.Parse(app.srv.URL)
	old := jarCookie(app, auth.CookieName)
	if old == nil {
		t.Fatal("no session cookie after login")
	}

	_, doc := app.get("/admin/staff")
	token, ok := doc.Find(`#logout-form input[name="csrf"]`).Attr("value")
	if !ok {
		t.Fatal("no logout form")
	}
	resp, _ := app.post("/admin/logout", url.Values{"csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Fatalf("POST /admin/logout: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, doc = app.get("/admin/login")
	if got := flashes(doc); len(got) != 1 || !strings.Contains(got[0], "You have signed out.") {
		t.Errorf("flashes after logout = %q", got)
	}
	if resp, _ := app.get("/admin/staff"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout: GET /admin/staff status %d, want 303", resp.StatusCode)
	}

	// A copy of the old cookie is refused: the session is revoked.
	replay := app.newClient()
	replay.client.Jar.SetCookies(base, []*http.Cookie{{Name: old.Name, Value: old.Value, Path: "/"}})
	resp, _ = replay.get("/admin/staff")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/login") {
		t.Errorf("old cookie replayed: %d → %q, want a redirect to the login", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// Each login is a new session token: the cookie from before the login
// (session fixation) is not the one that works after it.
func TestLogin_RotatesSession(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.loginAs(auth.RoleAdmin)
	first := jarCookie(app, auth.CookieName)
	// A second login in the same browser (the login page itself would
	// send a signed-in browser on, so post the form from another page).
	other := app.createStaff("other@example.com", auth.RoleSupport)
	_, doc := app.get("/admin/staff")
	token := doc.Find(`meta[name="csrf-token"]`).AttrOr("content", "")
	resp, _ := app.post("/admin/login", url.Values{"csrf": {token}, "email": {other.Email}, "password": {testStaffPassword}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second login: status %d", resp.StatusCode)
	}
	second := jarCookie(app, auth.CookieName)
	if first.Value == second.Value {
		t.Fatal("session cookie unchanged by a new login")
	}
	var live, total int
	if err := app.pool.QueryRow(context.Background(),
		`SELECT count(*) FILTER (WHERE revoked_at IS NULL), count(*) FROM staff_sessions`).Scan(&live, &total); err != nil {
		t.Fatal(err)
	}
	if live != 1 || total != 2 {
		t.Errorf("sessions live/total = %d/%d, want 1/2 (the first revoked)", live, total)
	}
	replay := app.newClient()
	base, _ := url.Parse(app.srv.URL)
	replay.client.Jar.SetCookies(base, []*http.Cookie{{Name: first.Name, Value: first.Value, Path: "/"}})
	if resp, _ := replay.get("/admin/staff"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("pre-login cookie: status %d, want 303", resp.StatusCode)
	}
	// The browser is now the second user.
	if resp, _ := app.get("/admin/staff"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("as the support user: status %d, want 403", resp.StatusCode)
	}
}

func TestStaff_Disable(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	admin := app.loginAs(auth.RoleAdmin)
	other := app.newClient()
	victim := other.loginAs(auth.RoleAdmin)
	if resp, _ := other.get("/admin/staff"); resp.StatusCode != http.StatusOK {
		t.Fatalf("victim before: status %d", resp.StatusCode)
	}

	_, doc := app.get("/admin/staff")
	form := doc.Find(`[data-testid="staff-row"][data-email="` + victim.Email + `"] form[data-testid="staff-disable-form"]`)
	if form.Length() != 1 || form.AttrOr("data-confirm", "") == "" {
		t.Fatal("no confirmed disable form on the victim's row")
	}
	if n := doc.Find(`[data-testid="staff-row"][data-email="` + admin.Email + `"] form`).Length(); n != 0 {
		t.Error("own row has a disable form")
	}
	resp, _ := app.post(form.AttrOr("action", ""), url.Values{"csrf": {form.Find(`input[name="csrf"]`).AttrOr("value", "")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: status %d", resp.StatusCode)
	}
	if !app.staffDisabled(victim.ID) {
		t.Fatal("not disabled")
	}
	_, doc = app.get("/admin/staff")
	if got := flashes(doc); len(got) != 1 || !strings.Contains(got[0], "Disabled "+victim.Email) {
		t.Errorf("flashes = %q", got)
	}
	if got := doc.Find(`[data-testid="staff-row"][data-email="`+victim.Email+`"] [data-testid="staff-status"]`).AttrOr("data-status", ""); got != "disabled" {
		t.Errorf("status badge = %q, want disabled", got)
	}
	// The victim's live session is over, and they cannot sign in again.
	if resp, _ := other.get("/admin/staff"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("victim after: status %d, want 303 to the login", resp.StatusCode)
	}
	if resp, _ := other.login(victim.Email, testStaffPassword, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("disabled login: status %d, want 401", resp.StatusCode)
	}
	var n int
	if err := app.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = $1 AND actor_id = $2`, audit.ActionStaffDisable, admin.ID).Scan(&n); err != nil || n != 1 {
		t.Errorf("audit entries = %d, %v; want 1", n, err)
	}
}

func TestStaff_DisableSelf(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	admin := app.loginAs(auth.RoleAdmin)
	token, _ := app.csrf("/admin/staff")
	resp, _ := app.post("/admin/staff/"+strconv.FormatInt(admin.ID, 10)+"/disable", url.Values{"csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if app.staffDisabled(admin.ID) {
		t.Fatal("admin disabled themselves")
	}
	_, doc := app.get("/admin/staff")
	if got := flashes(doc); len(got) != 1 || !strings.Contains(got[0], "You cannot disable your own account.") {
		t.Errorf("flashes = %q", got)
	}
}

func TestStaff_Add(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	admin := app.loginAs(auth.RoleAdmin)

	const pw = "a fine long password"
	token, _ := app.csrf("/admin/staff")
	resp, _ := app.post("/admin/staff", url.Values{
		"csrf": {token}, "email": {"New.Person@example.com"}, "role": {"support"},
		"password": {pw}, "password_confirm": {pw},
	})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/staff" {
		t.Fatalf("add: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, doc := app.get("/admin/staff")
	if got := flashes(doc); len(got) != 1 || !strings.Contains(got[0], "Added New.Person@example.com as support.") {
		t.Errorf("flashes = %q", got)
	}
	if _, doc := app.get("/admin/staff"); len(flashes(doc)) != 0 {
		t.Errorf("flash shown twice: %q", flashes(doc))
	}
	if n := doc.Find(`[data-testid="staff-row"][data-email="New.Person@example.com"]`).Length(); n != 1 {
		t.Errorf("rows for the new user = %d, want 1", n)
	}
	var hash string
	var actorID int64
	ctx := context.Background()
	if err := app.pool.QueryRow(ctx, `SELECT password_hash FROM staff_users WHERE email = 'New.Person@example.com'`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if hash == pw || !strings.HasPrefix(hash, "$argon2id$v=19$") || strings.Contains(hash, pw) {
		t.Errorf("password_hash = %q, want argon2id", hash)
	}
	if err := app.pool.QueryRow(ctx, `SELECT actor_id FROM audit_log WHERE action = $1 AND detail = 'New.Person@example.com'`, audit.ActionStaffAdd).Scan(&actorID); err != nil || actorID != admin.ID {
		t.Errorf("audit actor = %d, %v; want %d", actorID, err, admin.ID)
	}
	// The new user can sign in.
	if resp, _ := app.newClient().login("new.person@example.com", pw, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("new user login: status %d", resp.StatusCode)
	}
}

func TestStaff_AddValidation(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.loginAs(auth.RoleAdmin)
	app.createStaff("taken@example.com", auth.RoleSupport)
	const pw = "a fine long password"
	valid := url.Values{"email": {"someone@example.com"}, "role": {"support"}, "password": {pw}, "password_confirm": {pw}}
	for _, tt := range []struct {
		name      string
		change    url.Values
		wantField string
	}{
		{"BadEmail", url.Values{"email": {"not-an-email"}}, "email"},
		{"TakenEmail", url.Values{"email": {"TAKEN@example.com"}}, "email"},
		{"BadRole", url.Values{"role": {"root"}}, "role"},
		{"ShortPassword", url.Values{"password": {"short"}, "password_confirm": {"short"}}, "password"},
		{"Mismatch", url.Values{"password_confirm": {pw + "!"}}, "password_confirm"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := app.countStaff()
			token, _ := app.csrf("/admin/staff")
			form := url.Values{"csrf": {token}}
			for k, v := range valid {
				form[k] = v
			}
			for k, v := range tt.change {
				form[k] = v
			}
			resp, doc := app.post("/admin/staff", form)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", resp.StatusCode)
			}
			if doc.Find(`[data-testid="error-`+tt.wantField+`"]`).Length() != 1 {
				t.Errorf("no error shown for %s", tt.wantField)
			}
			if got := doc.Find("#staff-email").AttrOr("value", ""); got != form.Get("email") {
				t.Errorf("email value = %q, want %q kept", got, form.Get("email"))
			}
			if got := doc.Find("#staff-role option[selected]").AttrOr("value", ""); tt.name != "BadRole" && got != "support" {
				t.Errorf("role kept = %q, want support", got)
			}
			for _, id := range []string{"#staff-password", "#staff-password-confirm"} {
				if v := doc.Find(id).AttrOr("value", ""); v != "" {
					t.Errorf("%s echoed %q", id, v)
				}
			}
			if after := app.countStaff(); after != before {
				t.Errorf("staff users %d → %d, want unchanged", before, after)
			}
		})
	}

	// htmx gets just the form back.
	token, _ := app.csrf("/admin/staff")
	req, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/admin/staff",
		strings.NewReader(url.Values{"csrf": {token}, "email": {"x"}, "role": {"support"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	resp, err := app.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	doc := parse(t, resp)
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find("#staff-add-form").Length() != 1 || doc.Find("#staff-table").Length() != 0 {
		t.Errorf("htmx add with errors: status %d, want 422 with only the form", resp.StatusCode)
	}
}

func TestStaff_SupportForbidden(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	target := app.createStaff("target@example.com", auth.RoleSupport)
	app.loginAs(auth.RoleSupport)
	// Support has no staff page; take a CSRF token from the 403 page.
	_, doc := app.get("/admin/staff")
	token := doc.Find(`meta[name="csrf-token"]`).AttrOr("content", "")
	if token == "" {
		t.Fatal("no CSRF token on the 403 page")
	}
	before := app.countStaff()
	const pw = "a fine long password"
	resp, _ := app.post("/admin/staff", url.Values{
		"csrf": {token}, "email": {"sneaky@example.com"}, "role": {"admin"}, "password": {pw}, "password_confirm": {pw},
	})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("support POST /admin/staff: status %d, want 403", resp.StatusCode)
	}
	if after := app.countStaff(); after != before {
		t.Errorf("staff users %d → %d, want unchanged", before, after)
	}
	resp, _ = app.post("/admin/staff/"+strconv.FormatInt(target.ID, 10)+"/disable", url.Values{"csrf": {token}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("support disable: status %d, want 403", resp.StatusCode)
	}
	if app.staffDisabled(target.ID) {
		t.Error("support disabled a user")
	}
}

func TestCSRF_Staff(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{noKey: true})
	app.createStaff("ops@example.com", auth.RoleAdmin)

	// Login without a token: refused before the password is looked at.
	app.csrf("/admin/login") // the CSRF cookie is in the jar; only the form field is missing
	resp, _ := app.post("/admin/login", url.Values{"email": {"ops@example.com"}, "password": {testStaffPassword}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /admin/login without csrf: status %d, want 403", resp.StatusCode)
	}
	if r, _ := app.get("/admin/staff"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("signed in without a CSRF token: status %d", r.StatusCode)
	}

	app.loginAs(auth.RoleAdmin)
	before := app.countStaff()
	const pw = "a fine long password"
	for _, csrf := range []string{"", "forged-token"} {
		resp, _ = app.post("/admin/staff", url.Values{
			"csrf": {csrf}, "email": {"new@example.com"}, "role": {"admin"}, "password": {pw}, "password_confirm": {pw},
		})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST /admin/staff with csrf %q: status %d, want 403", csrf, resp.StatusCode)
		}
	}
	if after := app.countStaff(); after != before {
		t.Errorf("staff users %d → %d, want unchanged", before, after)
	}
}
