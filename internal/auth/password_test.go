package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/auth"
)

func TestHashPassword(t *testing.T) {
	t.Parallel()
	const pw = "correct horse battery staple"
	h, err := auth.HashPassword(pw, auth.DefaultHashParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash = %q, want a PHC argon2id string with the default parameters", h)
	}
	if strings.Contains(h, pw) {
		t.Error("hash contains the password")
	}
	h2, err := auth.HashPassword(pw, auth.DefaultHashParams)
	if err != nil {
		t.Fatal(err)
	}
	if h == h2 {
		t.Error("two hashes of one password are equal; want a fresh salt each time")
	}

	for _, tt := range []struct {
		name     string
		password string
		want     bool
	}{
		{"OK", pw, true},
		{"Wrong", "correct horse battery stapler", false},
		{"Empty", "", false},
		{"CaseMatters", strings.ToUpper(pw), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := auth.VerifyPassword(tt.password, h)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("VerifyPassword(%q) = %v, want %v", tt.password, got, tt.want)
			}
		})
	}
}

// Verify uses the parameters stored in the hash, so older hashes keep
// working when the defaults change.
func TestVerifyPassword_StoredParams(t *testing.T) {
	t.Parallel()
	cheap := auth.HashParams{MemoryKiB: 64, Time: 1, Threads: 1}
	h, err := auth.HashPassword("a long enough password", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, "$m=64,t=1,p=1$") {
		t.Fatalf("hash = %q, want the given parameters in it", h)
	}
	if ok, err := auth.VerifyPassword("a long enough password", h); err != nil || !ok {
		t.Errorf("VerifyPassword = %v, %v; want true", ok, err)
	}
}

func TestVerifyPassword_Malformed(t *testing.T) {
	t.Parallel()
	for _, h := range []string{
		"",
		"plaintext",
		"$2a$10$abcdefghijklmnopqrstuv", // bcrypt
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // not argon2id
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
	} {
		if ok, err := auth.VerifyPassword("x", h); ok || !errors.Is(err, auth.ErrMalformedHash) {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false, ErrMalformedHash", h, ok, err)
		}
	}
}
