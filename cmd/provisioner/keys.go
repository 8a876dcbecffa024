package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/config"
	"github.com/provisioner/provisioner/internal/keys"
	"github.com/provisioner/provisioner/internal/keystore"
	"github.com/provisioner/provisioner/internal/openai"
)

// loadKeystore returns the keyset of KEY_ENCRYPTION_KEYSET or, in
// development without one, the keyset kept in DATA_DIR (made on first
// use, with a warning). Production without a keyset is refused by
// config.Load already; required says a keyset is needed even with keys
// disabled (reencrypt).
func loadKeystore(cfg config.Config, logger *slog.Logger, required bool) (*keystore.Keystore, error) {
	if cfg.KeyEncryptionKeyset != "" {
		ks, err := keystore.Load(cfg.KeyEncryptionKeyset)
		if err != nil {
			return nil, fmt.Errorf("KEY_ENCRYPTION_KEYSET: %w", err)
		}
		return ks, nil
	}
	if !cfg.KeysEnabled && !required {
		return nil, nil
	}
	if cfg.Production() {
		return nil, errors.New("KEY_ENCRYPTION_KEYSET is required in production; create one with `provisioner keys keyset create`")
	}
	// Made on first use, so that a process that never stores a key leaves
	// DATA_DIR alone.
	return keystore.Lazy(func() (*keystore.Keystore, error) {
		ks, path, created, err := keystore.LoadOrCreateDev(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		if created {
			logger.Warn("⚠️ KEY_ENCRYPTION_KEYSET is not set: generated a development keyset; set KEY_ENCRYPTION_KEYSET in production", slog.String("path", path))
		} else {
			logger.Warn("⚠️ KEY_ENCRYPTION_KEYSET is not set: using the development keyset", slog.String("path", path))
		}
		return ks, nil
	}), nil
}

// newKeyService builds the key step. Keys are disabled (the service's
// Issue answers Skipped) without an admin key or with KEYS_ENABLED=false.
func newKeyService(cfg config.Config, pool *pgxpool.Pool, client *openai.Client, logger *slog.Logger) (*keys.Service, error) {
	var accounts openai.ServiceAccounts
	if client != nil && cfg.KeysEnabled {
		accounts = client
	}
	ks, err := loadKeystore(cfg, logger, false)
	if err != nil {
		return nil, err
	}
	if accounts == nil {
		ks = nil
	}
	return keys.New(pool, accounts, ks, keys.Settings{
		ServiceAccountName: cfg.KeyServiceAccountName,
		Rotation:           cfg.KeyRotation(),
		Grace:              cfg.KeyGracePeriod,
		MaxAttempts:        cfg.ProvisionMaxAttempts,
		BackoffBase:        cfg.ProvisionBackoffBase,
		BackoffMax:         cfg.ProvisionBackoffMax,
		SettleDelay:        cfg.ProvisionSettleDelay,
	}, logger), nil
}

const keysUsage = `usage: provisioner keys <command>

commands:
  keyset create         print a new Tink JSON keyset for KEY_ENCRYPTION_KEYSET
  keyset rotate         print KEY_ENCRYPTION_KEYSET's keyset with a new primary key added
                        (then deploy it and run "provisioner keys reencrypt")
  reencrypt             re-encrypt every stored key under the keyset's primary key
  backfill [--dry-run]  give every provisioned company without a key its key`

// runKeys handles "provisioner keys …".
func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, keysUsage)
		return errors.New("keys: no command given")
	}
	switch args[0] {
	case "keyset":
		if len(args) != 2 || (args[1] != "create" && args[1] != "rotate") {
			fmt.Fprintln(stderr, keysUsage)
			return errors.New("keys keyset: want create or rotate")
		}
		return runKeyset(args[1], getenv, stdout)
	case "reencrypt":
		return runReencrypt(ctx, args[1:], getenv, stdout, stderr)
	case "backfill":
		return runKeysBackfill(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, keysUsage)
		return nil
	}
	fmt.Fprintln(stderr, keysUsage)
	return fmt.Errorf("keys: unknown command %q", args[0])
}

func runKeyset(cmd string, getenv func(string) string, stdout io.Writer) error {
	var out []byte
	var err error
	if cmd == "create" {
		out, err = keystore.Generate()
	} else {
		cfg, cerr := config.Load(getenv)
		if cerr != nil {
			return cerr
		}
		if cfg.KeyEncryptionKeyset == "" {
			return errors.New("keys keyset rotate: KEY_ENCRYPTION_KEYSET is not set")
		}
		var ks []byte
		ks, err = readKeysetValue(cfg.KeyEncryptionKeyset)
		if err == nil {
			out, err = keystore.Rotate(ks)
		}
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(out))
	return err
}

func runReencrypt(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys reencrypt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	ks, err := loadKeystore(cfg, logger, true)
	if err != nil {
		return err
	}
	d, err := openDatabase(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer d.close()
	svc := keys.New(d.pool, nil, ks, keys.Settings{}, logger)
	resealed, current, err := svc.Reencrypt(ctx)
	fmt.Fprintf(stdout, "Re-encrypted %d stored keys under primary key %d; %d were already under it.\n", resealed, ks.PrimaryKeyID(), current)
	return err
}

func runKeysBackfill(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dryRun := fs.Bool("dry-run", false, "show how many companies have no key, and change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := setup(ctx, getenv, stderr, false)
	if err != nil {
		return err
	}
	defer a.close()
	n, err := a.keys.CountWithoutKey(ctx)
	if err != nil {
		return err
	}
	if *dryRun {
		fmt.Fprintf(stdout, "%d provisioned companies have no key.\n", n)
		rows, err := a.keys.WithoutKey(ctx, 10)
		if err != nil {
			return err
		}
		for _, r := range rows {
			fmt.Fprintf(stdout, "  %d  %s\n", r.ID, r.Name)
		}
		return nil
	}
	if !a.keys.Enabled() {
		return keys.ErrDisabled
	}
	if n == 0 {
		fmt.Fprintln(stdout, "Every provisioned company has a key: there is nothing to backfill.")
		return nil
	}
	fmt.Fprintf(stdout, "Issuing keys for %d companies (concurrency %d).\n", n, a.cfg.BackfillConcurrency)
	last := time.Now()
	rep, err := a.keys.Backfill(ctx, a.cfg.BackfillConcurrency, audit.Actor{Email: "cli"}, func(done, total int) {
		if time.Since(last) > time.Second || done == total {
			last = time.Now()
			fmt.Fprintf(stdout, "  %d/%d\n", done, total)
		}
	})
	fmt.Fprintf(stdout, "Keys backfill: %d created, %d already had one, %d failed, in %s.\n",
		rep.Created, rep.Already, rep.Failed, rep.Elapsed.Round(time.Millisecond))
	return err
}

// readKeysetValue returns the JSON of a KEY_ENCRYPTION_KEYSET value.
func readKeysetValue(v string) ([]byte, error) {
	if len(v) > 0 && v[0] == '{' {
		return []byte(v), nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return nil, fmt.Errorf("KEY_ENCRYPTION_KEYSET: %w", err)
	}
	return b, nil
}
