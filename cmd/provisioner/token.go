package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/provisioner/provisioner/internal/apitoken"
	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/validation"
)

const tokenUsage = `usage: provisioner token <command>

commands:
  create --name NAME --scopes a,b   create a host-app API token and print it once
                                    (scopes: ` + "companies:read, companies:write, keys:read, keys:write, costs:read" + `)
  list                              list tokens (never their values)
  revoke NAME                       revoke the live token named NAME`

// runToken handles "provisioner token …".
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, tokenUsage)
		return errors.New("token: no command given")
	}
	cmd, rest := args[0], args[1:]
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprintln(stdout, tokenUsage)
		return nil
	}
	fs := flag.NewFlagSet("token "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the token's name: who uses it")
	scopes := fs.String("scopes", "", "comma-separated scopes")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	cfg, d, _, err := openConfigured(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer d.close()
	svc := apitoken.New(d.pool, cfg.APITokenRateLimit)
	actor := audit.Actor{Email: "cli"}
	switch cmd {
	case "create":
		tok, value, err := svc.Create(ctx, *name, strings.Split(*scopes, ","), actor)
		var problems validation.Errors
		if errors.As(err, &problems) {
			for _, field := range []string{"name", "scopes"} {
				if msg := problems[field]; msg != "" {
					fmt.Fprintf(stderr, "--%s: %s\n", field, msg)
				}
			}
			return errors.New("token create: invalid input")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Created token %q with scopes %s. Store it now: it is not shown again.\n%s\n",
			tok.Name, strings.Join(tok.Scopes, ","), value)
		return nil
	case "list":
		list, err := svc.List(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tSCOPES\tCREATED\tLAST USED\tREVOKED")
		for _, t := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.Name, strings.Join(t.Scopes, ","), t.CreatedAt.UTC().Format(time.RFC3339),
				orDash(t.LastUsedAt), orDash(t.RevokedAt))
		}
		return w.Flush()
	case "revoke":
		n := *name
		if n == "" && fs.NArg() == 1 {
			n = fs.Arg(0)
		}
		if n == "" {
			return errors.New("token revoke: give the token's name")
		}
		if _, err := svc.Revoke(ctx, n, actor); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Revoked token %q.\n", n)
		return nil
	}
	fmt.Fprintln(stderr, tokenUsage)
	return fmt.Errorf("token: unknown command %q", cmd)
}

func orDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
