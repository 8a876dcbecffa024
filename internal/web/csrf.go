package web

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Cross-site request forgery is stopped twice over:
//
//   - crossOrigin (net/http's CrossOriginProtection) wraps the whole app,
//     River's job UI included: a browser's unsafe request that its
//     Sec-Fetch-Site or Origin header shows to come from another site is
//     refused before any handler runs.
//   - csrf, on the browser pages, requires the form's token (the "csrf"
//     field or the X-CSRF-Token header htmx sends), which is bound to the
//     server-side session or, before login, to a signed pre-session
//     (auth/csrf.go). A token of the attacker's choosing, even with a
//     cookie they managed to plant, is refused.

// csrfKey is where csrf puts the token of the page being rendered.
const csrfKey = "csrf"

// csrfFailed is the answer to a missing or wrong token.
const csrfFailed = "This form has expired or did not come from this site. Reload the page and try again."

// csrf gives every page its token and checks it on unsafe requests. It
// runs after the session middleware.
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := s.cookieSession(c)
		if err != nil {
			return err
		}
		token, created := s.auth.CSRFToken(sess)
		r := c.Request()
		if created {
			if err := sess.Save(r, c.Response()); err != nil {
				return fmt.Errorf("save pre-session cookie: %w", err)
			}
		}
		// Set before the check, so that the error page's forms (logout)
		// carry the session's real token.
		c.Set(csrfKey, token)
		if !safeMethod(r.Method) {
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				got = c.FormValue("csrf")
			}
			if !s.auth.CheckCSRF(sess, got) {
				return echo.NewHTTPError(http.StatusForbidden, csrfFailed)
			}
		}
		return next(c)
	}
}

// csrfToken is the token for the forms of the page being rendered.
func csrfToken(c echo.Context) string {
	t, _ := c.Get(csrfKey).(string)
	return t
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// crossOrigin wraps h in net/http's CrossOriginProtection. Requests with
// neither Sec-Fetch-Site nor Origin (curl, API clients) pass: they carry no
// ambient browser credentials of a victim, and the session-bound token
// and the API's bearer token or JSON rule still apply to them.
func crossOrigin(h http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Header.Get(echo.HeaderAccept) == echo.MIMEApplicationJSON || len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/api/" ||
			r.Header.Get(echo.HeaderContentType) == echo.MIMEApplicationJSON {
			w.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":{"status":403,"message":"Cross-origin request refused."}}`)
			return
		}
		http.Error(w, "Cross-origin request refused: this action must be started from this site's own pages.", http.StatusForbidden)
	}))
	return p.Handler(h)
}
