package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
)

const userUsage = `usage: provisioner user <command> [flags]

commands:
  add --email E --role admin|support   add a staff user; the password is read from
                                       stdin (first line) or prompted for twice
  list                                 list staff users
  disable --email E                    disable a staff user and end their sessions`

// cliActor is who the audit log names for changes made on the command line.
var cliActor = audit.Actor{Email: "command line"}

// runUser handles "provisioner user …": staff accounts from the command line.
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, userUsage)
		return errors.New("no user command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "add":
		return runUserAdd(ctx, rest, getenv, stdin, stdout, stderr)
	case "list":
		return runUserList(ctx, rest, getenv, stdout, stderr)
	case "disable":
		return runUserDisable(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, userUsage)
		return nil
	}
	fmt.Fprintln(stderr, userUsage)
	return fmt.Errorf("unknown user command %q", cmd)
}

func runUserAdd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the staff member's email (required)")
	roleName := fs.String("role", "", "admin or support (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		// Not echoed: it may well be a password.
		return errors.New("user add: unexpected argument; the password is read from stdin, never from the command line")
	}
	if strings.TrimSpace(*email) == "" {
		return errors.New("user add: --email is required")
	}
	role, err := auth.ParseRole(*roleName)
	if err != nil {
		return fmt.Errorf("user add: --role: %w", err)
	}
	password, err := readPassword(stdin, stderr)
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	svc, done, err := openAuth(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	acc, err := svc.CreateUser(ctx, cliActor, auth.NewAccount{Email: *email, Role: role, Password: password})
	var problems auth.ValidationError
	switch {
	case errors.As(err, &problems):
		return fmt.Errorf("user add: %s", describe(problems))
	case errors.Is(err, auth.ErrEmailTaken):
		return fmt.Errorf("user add: a staff user with email %s already exists", strings.TrimSpace(*email))
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "added %s (%s)\n", acc.Email, acc.Role)
	return nil
}

func runUserList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	svc, done, err := openAuth(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	accounts, err := svc.ListUsers(ctx)
	if err != nil {
		return err
	}
	if len(accounts) == 0 {
		fmt.Fprintln(stdout, "no staff users; add one with: provisioner user add --email E --role admin")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tSTATUS\tCREATED\tLAST LOGIN")
	for _, a := range accounts {
		status, last := "active", "never"
		if a.Disabled {
			status = "disabled"
		}
		if a.LastLoginAt != nil {
			last = a.LastLoginAt.UTC().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Email, a.Role, status, a.CreatedAt.UTC().Format("2006-01-02 15:04"), last)
	}
	return tw.Flush()
}

func runUserDisable(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user disable", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the staff member's email (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if strings.TrimSpace(*email) == "" {
		return errors.New("user disable: --email is required")
	}
	svc, done, err := openAuth(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	acc, err := svc.GetUserByEmail(ctx, *email)
	if errors.Is(err, auth.ErrNotFound) {
		return fmt.Errorf("user disable: there is no staff user with email %s", strings.TrimSpace(*email))
	}
	if err != nil {
		return err
	}
	_, err = svc.DisableUser(ctx, cliActor, acc.ID)
	switch {
	case errors.Is(err, auth.ErrAlreadyDisabled):
		fmt.Fprintf(stdout, "%s was already disabled\n", acc.Email)
		return nil
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "disabled %s; their sessions have ended\n", acc.Email)
	return nil
}

// openAuth connects to the database the way migrate does (creating and
// migrating it if needed) and returns the auth service and a function
// that closes the pool.
func openAuth(ctx context.Context, getenv func(string) string, stderr io.Writer) (*auth.Service, func(), error) {
	cfg, d, _, err := openConfigured(ctx, getenv, stderr)
	if err != nil {
		return nil, nil, err
	}
	svc, err := auth.NewService(d.pool, auth.Options{Secret: cfg.SessionSecret, Secure: cfg.Production()})
	if err != nil {
		d.close()
		return nil, nil, err
	}
	return svc, d.close, nil
}

// readPassword reads a new password: from a terminal, it prompts twice
// without echo; otherwise it takes the first line of stdin, so that
// scripts can pipe it in. It is never taken from the command line, where
// other users could read it in the process list.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		fmt.Fprint(stderr, "Password: ")
		first, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Password again: ")
		second, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if !slices.Equal(first, second) {
			return "", errors.New("the two passwords do not match")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no password on stdin; pipe it in or run from a terminal to be prompted")
		}
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// describe turns a ValidationError into one line for the terminal.
func describe(v auth.ValidationError) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	msgs := make([]string, len(keys))
	for i, k := range keys {
		msgs[i] = v[k]
	}
	return strings.Join(msgs, " ")
}
