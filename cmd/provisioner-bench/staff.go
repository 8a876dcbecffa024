package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

// staffClient is a browser signed in to the dashboard as an admin.
type staffClient struct {
	base   string
	client *http.Client
}

// signInAdmin creates an admin with the binary, as an operator would
// (`provisioner user add`, the password on stdin), and signs in through the
// login form.
func (b *bench) signInAdmin(ctx context.Context, dbURL, base string) (*staffClient, error) {
	email, password := "bench-admin@example.com", rand.Text()
	cmd := exec.CommandContext(ctx, b.bin, "user", "add", "--email", email, "--role", "admin")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("user add: %v\n%s", err, out)
	}
	jar, _ := cookiejar.New(nil)
	s := &staffClient{base: base, client: &http.Client{
		Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	_, body, _, err := s.get(ctx, "/admin/login", false)
	if err != nil {
		return nil, err
	}
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		return nil, fmt.Errorf("no csrf token on /admin/login")
	}
	form := url.Values{"csrf": {m[1]}, "email": {email}, "password": {password}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/admin/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("login answered %d", resp.StatusCode)
	}
	return s, nil
}

// get fetches path, as htmx does when htmx is true (the list's results
// only), and times the request from sending it to reading the whole answer.
func (s *staffClient) get(ctx context.Context, path string, htmx bool) (int, string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return 0, "", 0, err
	}
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	t0 := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, "", 0, err
	}
	return resp.StatusCode, string(body), d, nil
}
