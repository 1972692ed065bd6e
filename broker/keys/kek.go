package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KEKSize is the size of the key-encryption key: AES-256 (NIST SP 800-38D with a
// 256-bit key).
const KEKSize = 32

// ErrKEKMismatch is returned when a sealed private key does not open: the KEK is not
// the one the keys were sealed with, or a sealed blob was altered or moved to another
// row. The manager never replaces such keys with new ones silently: that would
// invalidate every token and session while hiding a configuration mistake.
var ErrKEKMismatch = errors.New("keys: the key-encryption key does not open the stored keys")

// LoadKEK reads the key-encryption key from file, or, when file is empty, from the
// environment variable envVar. The text is the 32-byte key in hex (64 characters) or
// base64 (standard or URL alphabet, padded or not); surrounding white space is
// ignored. A file readable or writable by anyone but its owner (permissions wider
// than 0600) is refused: the KEK opens every signing key. Errors name the source and
// the reason, never the content.
func LoadKEK(file, envVar string) ([]byte, error) {
	switch {
	case file != "":
		fi, err := os.Stat(file)
		if err != nil {
			return nil, fmt.Errorf("keys: key-encryption key file: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("keys: key-encryption key file %s is not a regular file", file)
		}
		if perm := fi.Mode().Perm(); perm&^0o600 != 0 {
			return nil, fmt.Errorf("keys: key-encryption key file %s has permissions %#o, wider than 0600 (chmod 600 %s)", file, perm, file)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("keys: key-encryption key file: %w", err)
		}
		k, err := ParseKEK(b)
		if err != nil {
			return nil, fmt.Errorf("keys: key-encryption key file %s: %w", file, err)
		}
		return k, nil
	case envVar != "":
		v, ok := os.LookupEnv(envVar)
		if !ok || strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("keys: key-encryption key: environment variable %s is unset or empty", envVar)
		}
		k, err := ParseKEK([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("keys: key-encryption key in environment variable %s: %w", envVar, err)
		}
		return k, nil
	default:
		return nil, errors.New("keys: key-encryption key: neither a file nor an environment variable is configured")
	}
}

// ParseKEK decodes a key-encryption key written as text (hex or base64, see LoadKEK)
// and checks its size. A value that already is 32 raw bytes is not accepted: a KEK
// always travels as text, so raw bytes mean a mistake somewhere.
func ParseKEK(text []byte) ([]byte, error) {
	s := strings.TrimSpace(string(text))
	if s == "" {
		return nil, errors.New("empty key-encryption key")
	}
	var k []byte
	if len(s) == 2*KEKSize {
		if b, err := hex.DecodeString(s); err == nil {
			k = b
		}
	}
	if k == nil {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(s); err == nil {
				k = b
				break
			}
		}
	}
	if k == nil {
		return nil, errors.New("key-encryption key is neither hex nor base64 text")
	}
	if len(k) != KEKSize {
		return nil, fmt.Errorf("key-encryption key decodes to %d bytes, want %d (generate one with: openssl rand -base64 32)", len(k), KEKSize)
	}
	if bytes.Equal(k, make([]byte, KEKSize)) {
		return nil, errors.New("key-encryption key is all zeros")
	}
	return k, nil
}

// GenerateKEK returns a new random key-encryption key (32 bytes, raw). Write it as
// base64 text for LoadKEK.
func GenerateKEK() []byte {
	k := make([]byte, KEKSize)
	rand.Read(k) // crypto/rand.Read never fails since Go 1.24.
	return k
}

// sealVersion prefixes sealed blobs so that a later format (another AEAD, a KEK
// identifier for KEK rotation) can be told apart.
const sealVersion = 1

// aad binds a sealed blob to its row: with the kid (and use and alg) as additional
// authenticated data, a blob copied to another row fails to open instead of silently
// making that row sign with someone else's key (AES-GCM, NIST SP 800-38D §7.2).
func aad(kid, use, alg string) []byte {
	return []byte("justiceconnect/keys/v1\x00" + use + "\x00" + alg + "\x00" + kid)
}

// seal encrypts plain with AES-256-GCM under kek with a fresh random 96-bit nonce
// (NIST SP 800-38D §8.2.2: random nonces are safe far beyond the number of keys a
// broker will ever seal). Layout: version || nonce || ciphertext+tag.
func seal(kek, plain []byte, kid, use, alg string) ([]byte, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:])
	return aead.Seal(out, out[1:], plain, aad(kid, use, alg)), nil
}

// open reverses seal. Any failure to authenticate is ErrKEKMismatch.
func open(kek, sealed []byte, kid, use, alg string) ([]byte, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 1+aead.NonceSize()+aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("keys: sealed key %s: unknown format", kid)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], aad(kid, use, alg))
	if err != nil {
		return nil, fmt.Errorf("%w (key %s: wrong key-encryption key, or the sealed key was altered or moved)", ErrKEKMismatch, kid)
	}
	return plain, nil
}

func newAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("keys: key-encryption key is %d bytes, want %d", len(kek), KEKSize)
	}
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption key: %w", err)
	}
	return cipher.NewGCM(b)
}
