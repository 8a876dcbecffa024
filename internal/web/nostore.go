package web

import "github.com/labstack/echo/v4"

// noStore keeps admin pages and API answers out of every cache (the
// browser's back button and disk cache, shared proxies): they show data
// only signed-in staff may see.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}
