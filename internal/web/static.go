package web

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/static"
)

// staticFiles serves the embedded CSS, scripts and images. A missing file
// is an ordinary 404 of the app (the one error page, or the toast or JSON
// the client asked for), not net/http's plain-text "404 page not found".
func staticFiles() echo.HandlerFunc {
	files := http.StripPrefix("/static/", http.FileServerFS(static.FS))
	return func(c echo.Context) error {
		name := strings.TrimPrefix(c.Request().URL.Path, "/static/")
		if fi, err := fs.Stat(static.FS, name); err != nil || fi.IsDir() {
			return echo.ErrNotFound
		}
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}
