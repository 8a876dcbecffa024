package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics tell how the business runs (signups, failures, job queues), so
// they are not for the public address. They are served
//
//   - on METRICS_ADDR, a listener of its own meant for an internal network
//     (the scraper's), with no token; and/or
//   - on the public address to "Authorization: Bearer <METRICS_TOKEN>".
//
// With neither set, /metrics is not served at all.

// MetricsHandler is the Prometheus handler, nil without a gatherer.
func (s *Server) MetricsHandler() http.Handler {
	if s.gatherer == nil {
		return nil
	}
	return promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{})
}

// requireMetricsToken lets through requests bearing METRICS_TOKEN,
// compared in constant time.
func (s *Server) requireMetricsToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		got, want := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(s.cfg.MetricsToken))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "Send Authorization: Bearer <METRICS_TOKEN>.")
		}
		return next(c)
	}
}

// serveMetrics starts the METRICS_ADDR listener, if one is configured.
func (s *Server) serveMetrics() error {
	h := s.MetricsHandler()
	if s.cfg.MetricsAddr == "" || h == nil {
		return nil
	}
	ln, err := listen(s.cfg.MetricsAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	s.metricsHTTP = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	s.logger.Info("serving metrics", slog.String("addr", ln.Addr().String()))
	go func() {
		if err := s.metricsHTTP.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("metrics listener stopped", slog.Any("error", err))
		}
	}()
	return nil
}
