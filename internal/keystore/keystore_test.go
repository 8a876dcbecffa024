package keystore_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/keystore"
)

func newKeystore(t *testing.T) (*keystore.Keystore, []byte) {
	t.Helper()
	js, err := keystore.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Parse(js)
	if err != nil {
		t.Fatal(err)
	}
	return ks, js
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	ks, _ := newKeystore(t)
	value := []byte("sk-svcacct-secretvalue123456")
	ct, err := ks.Seal(value, 7, "key_a")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, value) || bytes.Contains(ct, []byte("secretvalue")) {
		t.Fatal("ciphertext contains the value")
	}
	got, err := ks.Open(ct, 7, "key_a")
	if err != nil || !bytes.Equal(got, value) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if !ks.UnderPrimary(ct) {
		t.Error("a fresh ciphertext is not under the primary key")
	}
	// Another row's identity: another company, or another key of the same one.
	for _, row := range []struct {
		company int64
		key     string
	}{{8, "key_a"}, {7, "key_b"}, {70, "key_a"}} {
		if _, err := ks.Open(ct, row.company, row.key); !errors.Is(err, keystore.ErrDecrypt) {
			t.Errorf("opened as company %d key %s: %v", row.company, row.key, err)
		}
	}
	// Another keyset.
	other, _ := newKeystore(t)
	if _, err := other.Open(ct, 7, "key_a"); !errors.Is(err, keystore.ErrDecrypt) {
		t.Errorf("another keyset opened it: %v", err)
	}
	if _, err := ks.Open(ct[:len(ct)-1], 7, "key_a"); !errors.Is(err, keystore.ErrDecrypt) {
		t.Errorf("truncated ciphertext: %v", err)
	}
}

func TestRotateKeepsOldValuesReadable(t *testing.T) {
	t.Parallel()
	old, js := newKeystore(t)
	ct, err := old.Seal([]byte("v1"), 1, "key_1")
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := keystore.Rotate(js)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Parse(rotated)
	if err != nil {
		t.Fatal(err)
	}
	if ks.PrimaryKeyID() == old.PrimaryKeyID() {
		t.Fatal("rotation kept the primary")
	}
	if ks.UnderPrimary(ct) {
		t.Error("an old ciphertext counts as under the new primary")
	}
	if got, err := ks.Open(ct, 1, "key_1"); err != nil || string(got) != "v1" {
		t.Fatalf("old ciphertext after rotation: %q %v", got, err)
	}
	ct2, _ := ks.Seal([]byte("v1"), 1, "key_1")
	if !ks.UnderPrimary(ct2) {
		t.Error("resealed value not under the new primary")
	}
	if _, err := old.Open(ct2, 1, "key_1"); err == nil {
		t.Error("the old keyset opens a value sealed under the new primary")
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	_, js := newKeystore(t)
	if _, err := keystore.Load(string(js)); err != nil {
		t.Errorf("JSON value: %v", err)
	}
	path := filepath.Join(t.TempDir(), "ks.json")
	if err := os.WriteFile(path, js, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keystore.Load(path); err != nil {
		t.Errorf("file path: %v", err)
	}
	if _, err := keystore.Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing file: no error")
	}
	secretish := `{"primaryKeyId": 1, "key": "sk-not-a-keyset-but-secret"}`
	_, err := keystore.Load(secretish)
	if err == nil || strings.Contains(err.Error(), "sk-not-a-keyset") {
		t.Errorf("bad keyset: %v", err)
	}
}

func TestLoadOrCreateDev(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	ks, path, created, err := keystore.LoadOrCreateDev(dir)
	if err != nil || !created {
		t.Fatalf("first: created %v err %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyset file %v %v", fi, err)
	}
	ct, _ := ks.Seal([]byte("x"), 1, "k")
	ks2, _, created, err := keystore.LoadOrCreateDev(dir)
	if err != nil || created {
		t.Fatalf("second: created %v err %v", created, err)
	}
	if _, err := ks2.Open(ct, 1, "k"); err != nil {
		t.Errorf("the second load is another keyset: %v", err)
	}
}

func TestLazy(t *testing.T) {
	t.Parallel()
	calls := 0
	inner, _ := newKeystore(t)
	ks := keystore.Lazy(func() (*keystore.Keystore, error) { calls++; return inner, nil })
	if calls != 0 {
		t.Fatal("loaded before use")
	}
	ct, err := ks.Seal([]byte("v"), 1, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inner.Open(ct, 1, "k"); err != nil || calls != 1 {
		t.Errorf("open with the inner keyset: %v, %d loads", err, calls)
	}
	_, _ = ks.Open(ct, 1, "k")
	if calls != 1 {
		t.Errorf("%d loads, want 1", calls)
	}
	failing := keystore.Lazy(func() (*keystore.Keystore, error) { return nil, os.ErrPermission })
	if _, err := failing.Seal([]byte("v"), 1, "k"); !errors.Is(err, os.ErrPermission) {
		t.Errorf("a failed load: %v", err)
	}
}
