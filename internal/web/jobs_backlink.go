package web

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// River's job dashboard is a prebuilt app with no link back to ours, and
// its "attempts n / 25" reads like a contradiction of
// PROVISION_MAX_ATTEMPTS. jobsBackLink puts a thin bar on top of its page
// (the HTML document only, not its API or assets) with a way back and the
// explanation. The bar is styled inline because River's own stylesheet
// knows nothing of ours; its CSP (riverUICSP) allows inline styles.
func (s *Server) jobsBackLink(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Method != http.MethodGet || !strings.Contains(req.Header.Get(echo.HeaderAccept), "text/html") {
			return next(c)
		}
		// An uncompressed document, so that the bar can be put in it.
		req.Header.Del(echo.HeaderAcceptEncoding)
		orig := c.Response().Writer
		rec := &bufferedWriter{header: orig.Header(), code: http.StatusOK}
		c.Response().Writer = rec
		err := next(c)
		c.Response().Writer = orig
		body := rec.body.Bytes()
		if strings.HasPrefix(orig.Header().Get(echo.HeaderContentType), "text/html") {
			body = injectAfterBody(body, s.jobsBar())
			orig.Header().Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
		}
		orig.WriteHeader(rec.code)
		_, werr := orig.Write(body)
		if err != nil {
			return err
		}
		return werr
	}
}

// jobsBar is the bar's HTML.
func (s *Server) jobsBar() string {
	return fmt.Sprintf(`<div id="provisioner-jobs-bar" style="font:14px/1.4 system-ui,sans-serif;background:#0f172a;color:#e2e8f0;padding:8px 16px;display:flex;flex-wrap:wrap;gap:4px 16px;align-items:center">`+
		`<a href="/admin" style="color:#fff;font-weight:600;text-decoration:none">&larr; Back to Provisioner</a>`+
		`<span>River's &ldquo;attempts n / 25&rdquo; counts unexpected errors only (a database outage). OpenAI failures are counted per company, up to PROVISION_MAX_ATTEMPTS (%s), in each company's history.</span></div>`,
		html.EscapeString(strconv.Itoa(s.cfg.ProvisionMaxAttempts)))
}

// injectAfterBody inserts snippet right after the <body …> tag, or leaves
// the document alone when it has none.
func injectAfterBody(doc []byte, snippet string) []byte {
	i := bytes.Index(bytes.ToLower(doc), []byte("<body"))
	if i < 0 {
		return doc
	}
	j := bytes.IndexByte(doc[i:], '>')
	if j < 0 {
		return doc
	}
	at := i + j + 1
	out := make([]byte, 0, len(doc)+len(snippet))
	out = append(out, doc[:at]...)
	out = append(out, snippet...)
	return append(out, doc[at:]...)
}
