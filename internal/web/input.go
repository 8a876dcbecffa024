package web

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// badInput is the answer to a request carrying NUL bytes or invalid UTF-8.
const badInput = "The request contains characters that are not allowed (NUL bytes or invalid UTF-8)."

// rejectBadInput answers 400 when the path, the query, a cookie or a form
// field holds a NUL byte or invalid UTF-8, or the query or form cannot be
// decoded. PostgreSQL refuses both in text, so letting them through would
// end in a 500 wherever a value reaches a query; refusing them here covers
// every handler at once. It runs after the body limit.
func rejectBadInput(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if !cleanText(r.URL.Path) {
			return echo.NewHTTPError(http.StatusBadRequest, badInput)
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil || !cleanValues(q) {
			return echo.NewHTTPError(http.StatusBadRequest, badInput).SetInternal(err)
		}
		for _, h := range r.Header.Values("Cookie") {
			if !cleanText(h) {
				return echo.NewHTTPError(http.StatusBadRequest, badInput)
			}
		}
		if r.Body != nil && !safeMethod(r.Method) {
			mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
			switch mt {
			case echo.MIMEApplicationForm:
				err = r.ParseForm()
			case echo.MIMEMultipartForm:
				err = r.ParseMultipartForm(1 << 20)
			default:
				return next(c)
			}
			if errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
				return err
			}
			if err != nil || !cleanValues(r.PostForm) {
				return echo.NewHTTPError(http.StatusBadRequest, badInput).SetInternal(err)
			}
		}
		return next(c)
	}
}

func cleanText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

func cleanValues(v url.Values) bool {
	for k, vs := range v {
		if !cleanText(k) {
			return false
		}
		for _, s := range vs {
			if !cleanText(s) {
				return false
			}
		}
	}
	return true
}
