package web

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// JobsPrefix is where River's job dashboard is served.
const JobsPrefix = "/admin/jobs"

// jobsRoutes serves River's job dashboard to admins. It is a prebuilt React
// app with its own JSON API, so it holds no form token; its writes are
// guarded instead by the cross-origin protection in front of the whole app
// (csrf.go) and by requireJSONWrites: an HTML form on another site can
// send text/plain but never application/json.
func (s *Server) jobsRoutes(e *echo.Echo) {
	if s.jobsUI == nil {
		return
	}
	g := e.Group(JobsPrefix, s.staffSession(), s.requireSetupDone, s.requireStaff, s.requireAdmin, noStore, riverUICSP, requireJSONWrites, loadRiverUIShim)
	h := echo.WrapHandler(s.jobsUI)
	g.Any("", h)
	g.Any("/*", h)
}

// requireJSONWrites answers 415 to an unsafe request whose body is not
// declared JSON.
func requireJSONWrites(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if r := c.Request(); !safeMethod(r.Method) && !isJSON(r) {
			return echo.NewHTTPError(http.StatusUnsupportedMediaType, "Send the request body as JSON (Content-Type: application/json).")
		}
		return next(c)
	}
}

// riverUIShimTag loads static/js/riverui-json.js, which makes River's
// dashboard label its writes as JSON, before River's own script.
const riverUIShimTag = `<script src="/static/js/riverui-json.js"></script>`

// loadRiverUIShim adds riverUIShimTag to the head of River's HTML pages.
func loadRiverUIShim(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodGet || strings.HasPrefix(r.URL.Path, JobsPrefix+"/api/") {
			return next(c)
		}
		res := c.Response()
		orig := res.Writer
		buf := &bufferedWriter{header: orig.Header(), code: http.StatusOK}
		res.Writer = buf
		err := next(c)
		res.Writer = orig
		if err != nil && buf.body.Len() == 0 {
			return err
		}
		body := buf.body.Bytes()
		if strings.HasPrefix(orig.Header().Get(echo.HeaderContentType), "text/html") {
			body = bytes.Replace(body, []byte("<head>"), []byte("<head>"+riverUIShimTag), 1)
			orig.Header().Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
		}
		orig.WriteHeader(buf.code)
		_, _ = orig.Write(body)
		return err
	}
}

// bufferedWriter holds a response until it may be rewritten.
type bufferedWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *bufferedWriter) Header() http.Header         { return w.header }
func (w *bufferedWriter) WriteHeader(code int)        { w.code = code }
func (w *bufferedWriter) Write(b []byte) (int, error) { return w.body.Write(b) }

// riverUICSP loosens the policy for River's UI only: its React components
// set inline styles, and its bundled schema library probes whether eval is
// allowed (a probe the browser reports as a CSP violation when it is not).
// Scripts still come from our own origin only, and only River's own
// prebuilt code runs here; every other page keeps the strict policy.
func riverUICSP(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderContentSecurityPolicy,
			"default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'")
		return next(c)
	}
}
