package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/config"
	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/embeddedpg"
	"github.com/provisioner/provisioner/internal/governor"
)

// database is a command's connection pool and, when DATABASE_URL is unset,
// the private PostgreSQL server it runs on.
type database struct {
	pool    *pgxpool.Pool
	private *embeddedpg.Server
	logger  *slog.Logger
	// gov paces the process's calls to OpenAI (governor.go), on a pool
	// of its own; nil without an admin key.
	gov     *governor.Governor
	govPool *pgxpool.Pool
}

// openConfigured loads the configuration from getenv and opens its
// database with a logger writing to stderr: the start of every command
// that works on the database.
func openConfigured(ctx context.Context, getenv func(string) string, stderr io.Writer) (config.Config, *database, *slog.Logger, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return config.Config{}, nil, nil, err
	}
	logger := newLogger(cfg, stderr)
	d, err := openDatabase(ctx, cfg, logger)
	if err != nil {
		return config.Config{}, nil, nil, err
	}
	return cfg, d, logger, nil
}

// openDatabase connects to DATABASE_URL or, when it is unset, to the
// private PostgreSQL in DATA_DIR, starting it if needed. It creates the
// database if missing and migrates it. Call close when done.
func openDatabase(ctx context.Context, cfg config.Config, logger *slog.Logger) (*database, error) {
	d := &database{logger: logger}
	url := cfg.DatabaseURL
	if cfg.EmbeddedDatabase() {
		srv, err := embeddedpg.Start(ctx, embeddedpg.Options{DataDir: cfg.DataDir})
		if err != nil {
			return nil, err
		}
		d.private = srv
		logger.Info("DATABASE_URL is not set: using a private PostgreSQL",
			slog.String("data", srv.Dir()), slog.String("version", srv.Version()),
			slog.String("addr", srv.Addr()), slog.Bool("reused", srv.Reused()))
		url = srv.URL()
	}
	if err := db.CreateIfMissing(ctx, url); err != nil {
		d.close()
		return nil, err
	}
	pool, err := db.Open(ctx, url)
	if err != nil {
		d.close()
		return nil, err
	}
	d.pool = pool
	if err := db.Migrate(ctx, pool, logger); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// close closes the pool, then stops the private server unless another
// process still uses it (the last one stops it).
func (d *database) close() {
	if d.gov != nil {
		d.gov.Close()
		d.govPool.Close()
	}
	if d.pool != nil {
		d.pool.Close()
	}
	if d.private != nil {
		if err := d.private.Stop(context.Background()); err != nil {
			d.logger.Error("stop the private PostgreSQL", slog.Any("error", err))
		}
	}
}
