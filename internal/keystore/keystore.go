// Package keystore encrypts the OpenAI API keys Provisioner stores, with
// Tink's AEAD (AES-256-GCM) under a keyset of our own.
//
// Rules:
//   - a value is never stored in plain text; every ciphertext is bound to
//     its row by associated data (the company ID and the OpenAI key ID), so
//     a ciphertext copied into another row does not decrypt;
//   - the keyset comes from KEY_ENCRYPTION_KEYSET: a Tink JSON keyset, or
//     the path of a file holding one. A rotated keyset (a new primary key
//     added, the old ones kept) still decrypts every stored value, and
//     Reencrypt-style callers move them to the primary key with
//     UnderPrimary and Seal;
//   - errors never carry plaintext.
//
// The keyset is kept in clear JSON (Tink's "insecure cleartext" reader):
// whoever can read KEY_ENCRYPTION_KEYSET can decrypt the keys, exactly as
// with any secret in the environment. A database dump alone cannot.
package keystore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Keystore seals and opens stored key values. It is safe for concurrent use.
type Keystore struct {
	aead    tink.AEAD
	primary uint32
	// load, when set (Lazy), makes the keyset on first use.
	once    sync.Once
	load    func() (*Keystore, error)
	loadErr error
}

// Lazy returns a Keystore that calls load on first use (the development
// keyset is only written to DATA_DIR once a key is actually stored or read).
func Lazy(load func() (*Keystore, error)) *Keystore { return &Keystore{load: load} }

func (k *Keystore) ready() error {
	if k.load == nil {
		return nil
	}
	k.once.Do(func() {
		ks, err := k.load()
		if err != nil {
			k.loadErr = err
			return
		}
		k.aead, k.primary = ks.aead, ks.primary
	})
	return k.loadErr
}

// ErrDecrypt is returned when a ciphertext does not open: another row's
// ciphertext, a keyset that lacks its key, or corruption.
var ErrDecrypt = errors.New("keystore: the stored key does not decrypt with this keyset and row")

// New returns a Keystore on a keyset handle.
func New(h *keyset.Handle) (*Keystore, error) {
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("keystore: keyset is not an AEAD keyset: %w", err)
	}
	return &Keystore{aead: a, primary: h.KeysetInfo().GetPrimaryKeyId()}, nil
}

// Parse reads a Tink JSON keyset.
func Parse(jsonKeyset []byte) (*Keystore, error) {
	h, err := parseHandle(jsonKeyset)
	if err != nil {
		return nil, err
	}
	return New(h)
}

func parseHandle(jsonKeyset []byte) (*keyset.Handle, error) {
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(jsonKeyset)))
	if err != nil {
		// Tink's message may quote the input: keep it out.
		return nil, errors.New("keystore: not a valid Tink JSON keyset")
	}
	return h, nil
}

// Load reads KEY_ENCRYPTION_KEYSET's value: a JSON keyset (it starts with
// "{") or the path of a file holding one.
func Load(value string) (*Keystore, error) {
	value = strings.TrimSpace(value)
	if strings.HasPrefix(value, "{") {
		return Parse([]byte(value))
	}
	b, err := os.ReadFile(value)
	if err != nil {
		return nil, fmt.Errorf("keystore: read keyset file: %w", err)
	}
	ks, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, value)
	}
	return ks, nil
}

// Generate returns a new JSON keyset with one AES-256-GCM key.
func Generate() ([]byte, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("keystore: new keyset: %w", err)
	}
	return write(h)
}

// Rotate returns jsonKeyset with a new AES-256-GCM key added as primary;
// the old keys stay, so that every stored value still decrypts until it is
// re-encrypted.
func Rotate(jsonKeyset []byte) ([]byte, error) {
	h, err := parseHandle(jsonKeyset)
	if err != nil {
		return nil, err
	}
	m := keyset.NewManagerFromHandle(h)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("keystore: add key: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return nil, fmt.Errorf("keystore: set primary: %w", err)
	}
	nh, err := m.Handle()
	if err != nil {
		return nil, fmt.Errorf("keystore: rotated keyset: %w", err)
	}
	return write(nh)
}

func write(h *keyset.Handle) ([]byte, error) {
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return nil, fmt.Errorf("keystore: write keyset: %w", err)
	}
	return buf.Bytes(), nil
}

// DevKeysetFile is the keyset's file name under DATA_DIR in development.
const DevKeysetFile = "key-encryption-keyset.json"

// LoadOrCreateDev loads dir/DevKeysetFile, creating it (mode 0600) first if
// it does not exist. It is for development only: production must be given
// KEY_ENCRYPTION_KEYSET. created tells the caller to warn.
func LoadOrCreateDev(dir string) (ks *Keystore, path string, created bool, err error) {
	path = filepath.Join(dir, DevKeysetFile)
	if _, err := os.Stat(path); err == nil {
		ks, err := Load(path)
		return ks, path, false, err
	}
	b, err := Generate()
	if err != nil {
		return nil, path, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, path, false, fmt.Errorf("keystore: %w", err)
	}
	// O_EXCL: two processes starting at once must not write two keysets.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		ks, err := Load(path)
		return ks, path, false, err
	}
	if err != nil {
		return nil, path, false, fmt.Errorf("keystore: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, path, false, fmt.Errorf("keystore: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, path, false, fmt.Errorf("keystore: write %s: %w", path, err)
	}
	ks, err = Parse(b)
	return ks, path, true, err
}

// associatedData binds a ciphertext to its row.
func associatedData(companyID int64, keyID string) []byte {
	return []byte("provisioner/company-key/v1|company=" + strconv.FormatInt(companyID, 10) + "|key=" + keyID)
}

// Seal encrypts value for the row of companyID and keyID (the OpenAI key ID).
func (k *Keystore) Seal(value []byte, companyID int64, keyID string) ([]byte, error) {
	if err := k.ready(); err != nil {
		return nil, err
	}
	ct, err := k.aead.Encrypt(value, associatedData(companyID, keyID))
	if err != nil {
		return nil, errors.New("keystore: encrypt failed")
	}
	return ct, nil
}

// Open decrypts a ciphertext sealed for the row of companyID and keyID.
// Returns ErrDecrypt if it was sealed for another row or under a key the
// keyset does not hold.
func (k *Keystore) Open(ciphertext []byte, companyID int64, keyID string) ([]byte, error) {
	if err := k.ready(); err != nil {
		return nil, err
	}
	pt, err := k.aead.Decrypt(ciphertext, associatedData(companyID, keyID))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// UnderPrimary reports whether ciphertext was sealed under the keyset's
// primary key (Tink prefixes ciphertexts with their key's ID).
func (k *Keystore) UnderPrimary(ciphertext []byte) bool {
	if k.ready() != nil {
		return false
	}
	return len(ciphertext) > 5 && ciphertext[0] == 1 && binary.BigEndian.Uint32(ciphertext[1:5]) == k.primary
}

// PrimaryKeyID is the ID of the keyset's primary key, for messages.
func (k *Keystore) PrimaryKeyID() uint32 {
	_ = k.ready()
	return k.primary
}

// String keeps the keyset out of prints.
func (k *Keystore) String() string { return "keystore.Keystore{keyset: redacted}" }
