package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/provisioner/provisioner/internal/policy"
	"github.com/provisioner/provisioner/internal/validation"
)

// runPolicy handles "provisioner policy show" and "provisioner policy set FILE".
func runPolicy(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	const usage = "usage: provisioner policy show | provisioner policy set FILE (- reads standard input)"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("policy: no subcommand given")
	}
	switch args[0] {
	case "show", "set":
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("policy: unknown subcommand %q", args[0])
	}
	var data []byte
	if args[0] == "set" {
		if len(args) != 2 {
			fmt.Fprintln(stderr, usage)
			return errors.New("policy set: give the policy file (or - for standard input)")
		}
		var err error
		if args[1] == "-" {
			data, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
		} else {
			data, err = os.ReadFile(args[1])
		}
		if err != nil {
			return fmt.Errorf("policy set: %w", err)
		}
	} else if len(args) != 1 {
		return fmt.Errorf("policy show: unexpected argument %q", args[1])
	}
	// Bad input is refused before anything else happens.
	var doc policy.Document
	if data != nil {
		var err error
		if doc, err = policy.Parse(data); err != nil {
			var v validation.Errors
			if errors.As(err, &v) {
				for _, k := range slices.Sorted(maps.Keys(v)) {
					fmt.Fprintf(stderr, "  %s: %s\n", k, v[k])
				}
				return fmt.Errorf("policy set: %s is not a valid policy (%d problems)", args[1], len(v))
			}
			return err
		}
	}
	a, err := setup(ctx, getenv, stderr, false)
	if err != nil {
		return err
	}
	defer a.close()
	if data == nil {
		v, err := a.policy.Template(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, v.Document.Pretty())
		if v.Number == 0 {
			fmt.Fprintln(stderr, "(no policy saved yet: every key is absent, OpenAI's defaults apply)")
		} else {
			fmt.Fprintf(stderr, "(version %d, saved by %s at %s)\n", v.Number, v.Actor, v.At.UTC().Format("2006-01-02 15:04 UTC"))
		}
		return nil
	}
	v, unchanged, err := a.policy.SetTemplate(ctx, doc, cliActor)
	if err != nil {
		return err
	}
	if unchanged {
		fmt.Fprintf(stdout, "The policy is already this (version %d); nothing changed.\n", v.Number)
		return nil
	}
	fmt.Fprintf(stdout, "Saved policy version %d. Every linked company's policy will be applied again.\n", v.Number)
	if !a.policy.Enabled() {
		fmt.Fprintln(stdout, "Note: policies are not applied (POLICY_ENABLED=false or no OPENAI_ADMIN_KEY).")
	}
	return nil
}

// runReconcile handles "provisioner reconcile": the periodic drift check, now.
func runReconcile(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := setup(ctx, getenv, stderr, false)
	if err != nil {
		return err
	}
	defer a.close()
	if !a.policy.Enabled() {
		return errors.New("reconcile: policies are disabled (POLICY_ENABLED=false or no OPENAI_ADMIN_KEY)")
	}
	rep, err := a.policy.Reconcile(ctx)
	fmt.Fprintf(stdout, "Checked %d projects in %s (%.1f OpenAI calls each): %d drifted, %d missing on OpenAI, %d orphan projects, %d re-applies enqueued, %d could not be checked.\n",
		rep.Checked, rep.Duration.Round(1e6), rep.CallsPerProject(), rep.Drifted, rep.Missing, rep.Orphans, rep.Fixed, rep.Errors)
	return err
}
