package web

import (
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/views/layouts"
)

// render buffers the component so that a render error becomes a clean 500
// instead of half a page.
func render(c echo.Context, code int, comp templ.Component) error {
	buf := templ.GetBuffer()
	defer templ.ReleaseBuffer(buf)
	if err := comp.Render(c.Request().Context(), buf); err != nil {
		return err
	}
	c.Response().Header().Add(echo.HeaderVary, "HX-Request")
	return c.HTMLBlob(code, buf.Bytes())
}

// isHTMX reports whether the request comes from htmx.
func isHTMX(c echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }

// wantsFragment reports whether to answer with the fragment htmx swaps
// rather than the whole page. A history restore (a Back to a page htmx no
// longer caches) comes from htmx too but puts the answer in place of the
// whole body, so it gets the page.
func wantsFragment(c echo.Context) bool {
	return isHTMX(c) && c.Request().Header.Get("HX-History-Restore-Request") != "true"
}

// redirect answers 303 to url, or tells htmx to navigate there.
func redirect(c echo.Context, url string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", url)
		return c.NoContent(http.StatusOK)
	}
	return c.Redirect(http.StatusSeeOther, url)
}

// meta is the layout data for a page of this request.
func (s *Server) meta(c echo.Context, title string) layouts.Meta {
	return layouts.Meta{Title: title, CSRF: csrfToken(c), Sandbox: s.sandbox}
}
