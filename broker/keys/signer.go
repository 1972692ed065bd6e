package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
)

// SigningKey is the current key of one algorithm, ready to sign compact JWS.
// It is shared by all callers and safe for concurrent use.
type SigningKey struct {
	ID  string // kid, always set in the JWS header (OIDC Core 10.1)
	Alg string // JWS alg (RFC 7518 §3.1)
	Key crypto.Signer

	signers sync.Map // typ -> jose.Signer, so Sign does not rebuild one per token
}

// JOSESigner returns a go-jose signer for this key whose protected header carries
// alg, kid and, when typ is not empty, typ (RFC 7515 §4.1.9; e.g. "at+jwt" for RFC
// 9068 access tokens, "logout+jwt" for back-channel logout tokens).
func (k *SigningKey) JOSESigner(typ string) (jose.Signer, error) {
	if s, ok := k.signers.Load(typ); ok {
		return s.(jose.Signer), nil
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(k.Alg),
		// A JSONWebKey with KeyID makes go-jose put "kid" in the protected header.
		Key: jose.JSONWebKey{Key: k.Key, KeyID: k.ID, Algorithm: k.Alg, Use: useSig},
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("keys: signer for %s: %w", k.ID, err)
	}
	actual, _ := k.signers.LoadOrStore(typ, s)
	return actual.(jose.Signer), nil
}

// Sign signs payload and returns the compact serialization (RFC 7515 §7.1) with
// header alg, kid and typ.
func (k *SigningKey) Sign(payload []byte, typ string) (string, error) {
	s, err := k.JOSESigner(typ)
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("keys: sign with %s: %w", k.ID, err)
	}
	return jws.CompactSerialize()
}

const (
	useSig    = "sig"
	useCookie = "cookie"
)

// supported reports whether the manager can make keys for alg. HS* and "none" are
// never accepted: a shared secret cannot be published in a JWKS, and SECURITY.md K6
// (RS->HS confusion) is avoided by not having symmetric signing keys at all.
func supported(alg string) bool {
	switch alg {
	case "ES256", "ES384", "RS256", "PS256", "EdDSA":
		return true
	}
	return false
}

// generate makes a new private key for alg (key types from RFC 7518 §3.3-3.5 and
// RFC 8037 for EdDSA).
func generate(alg string, rsaBits int) (crypto.Signer, error) {
	switch alg {
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "RS256", "PS256":
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("keys: unsupported algorithm %q", alg)
}

// checkKeyAlg verifies that a parsed key fits alg, so a row whose alg column was
// edited cannot make go-jose sign with an unexpected key type.
func checkKeyAlg(k crypto.Signer, alg string) error {
	ok := false
	switch key := k.(type) {
	case *ecdsa.PrivateKey:
		ok = (alg == "ES256" && key.Curve == elliptic.P256()) || (alg == "ES384" && key.Curve == elliptic.P384())
	case *rsa.PrivateKey:
		// RFC 7518 §3.3: RSA keys of 2048 bits or more.
		ok = (alg == "RS256" || alg == "PS256") && key.N.BitLen() >= 2048
	case ed25519.PrivateKey:
		ok = alg == "EdDSA"
	}
	if !ok {
		return fmt.Errorf("keys: stored key of type %T does not fit algorithm %s", k, alg)
	}
	return nil
}

// newKID returns a short random key ID: base64url of 12 random bytes (16
// characters). It is random rather than a thumbprint so it says nothing about the key
// and cannot collide between two keys by construction (RFC 7517 §4.5 leaves the kid
// format to the issuer; RFC 7638 thumbprints would be equal for a re-imported key).
func newKID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// publicJWK returns the JSON of the public JWK of priv, with kid, alg and use.
func publicJWK(priv crypto.Signer, kid, alg string) ([]byte, error) {
	j := jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: useSig}
	if !j.IsPublic() {
		return nil, errors.New("keys: public key expected")
	}
	return j.MarshalJSON()
}

// parsePrivate decodes the PKCS#8 DER (RFC 5208) found inside a sealed blob.
func parsePrivate(der []byte, kid, alg string) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: private key: %w", kid, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: key %s: private key of type %T cannot sign", kid, k)
	}
	if err := checkKeyAlg(s, alg); err != nil {
		return nil, fmt.Errorf("keys: key %s: %w", kid, err)
	}
	return s, nil
}

// samePublic reports whether pub is the public half of priv.
func samePublic(priv crypto.Signer, pub crypto.PublicKey) bool {
	e, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(pub)
}
