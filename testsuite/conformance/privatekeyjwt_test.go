package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// B13 and RFC 7523: private_key_jwt client authentication, jti replay refused.
func TestPrivateKeyJWT(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	env := harness.Start(t, harness.Options{ExtraYAML: `  - client_id: pkjwt-client
    name: "Client à clé"
    kind: first_party
    token_endpoint_auth_method: private_key_jwt
    token_endpoint_auth_signing_alg: ES256
    jwks_file: "` + jwksFile + `"
    grant_types: [client_credentials]
    scopes: ["detenus:read"]
    audience: ["` + harness.APIAudience + `"]
`})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(claims map[string]any) string {
		base := map[string]any{"iss": "pkjwt-client", "sub": "pkjwt-client", "aud": env.Issuer + "/token",
			"jti": "jti-" + time.Now().Format(time.RFC3339Nano), "exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix()}
		for k, v := range claims {
			if v == nil {
				delete(base, k)
			} else {
				base[k] = v
			}
		}
		payload, _ := json.Marshal(base)
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := jws.CompactSerialize()
		return s
	}
	call := func(a string) *harness.Tokens {
		return env.Token(t, "", "", url.Values{"grant_type": {"client_credentials"}, "scope": {"detenus:read"}, "audience": {harness.APIAudience},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}})
	}
	good := assertion(map[string]any{"jti": "unique-jti-1"})
	if tok := call(good); tok.Status != http.StatusOK {
		t.Fatalf("valid assertion: %d %s %s", tok.Status, tok.Error, tok.Description)
	}
	if tok := call(good); tok.Status == http.StatusOK {
		t.Fatal("replayed jti accepted (CVE-2020-15222)")
	}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: otherKey}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	forged, _ := otherSigner.Sign([]byte(`{"iss":"pkjwt-client","sub":"pkjwt-client","aud":"` + env.Issuer + `/token","jti":"f1","exp":` + itoa64(time.Now().Add(time.Minute).Unix()) + `}`))
	forgedS, _ := forged.CompactSerialize()
	for name, a := range map[string]string{
		"wrong aud":      assertion(map[string]any{"aud": "https://evil.example/token"}),
		"expired":        assertion(map[string]any{"exp": time.Now().Add(-5 * time.Minute).Unix()}),
		"no sub":         assertion(map[string]any{"sub": nil}),
		"iss not client": assertion(map[string]any{"iss": "someone"}),
		"foreign key":    forgedS,
	} {
		if tok := call(a); tok.Status == http.StatusOK || (tok.Error != "invalid_client" && tok.Error != "invalid_request") {
			t.Errorf("%s: %d %q", name, tok.Status, tok.Error)
		}
	}
}

func itoa64(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
