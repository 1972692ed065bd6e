package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// BenchmarkHTTPSSignOnly is the ceiling of any HTTPS token endpoint on this machine
// with this client: the same TLS client and concurrency as the broker benchmarks,
// against a handler that only parses the form, compares a client secret, signs one
// ES256 JWT and writes the JSON answer — no OAuth engine, no store, no audit. The
// broker's token rates are read against it as well as against the raw signing rate:
// what separates this from BenchmarkRawES256Sign is TLS, HTTP and the client's own
// share of the two cores, which no broker design removes.
func BenchmarkHTTPSSignOnly(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		b.Fatal(err)
	}
	const id, secret = "api", "api-secret-0123456789"
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != id || subtle.ConstantTimeCompare([]byte(pass), []byte(secret)) != 1 || r.PostFormValue("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		jti := make([]byte, 16)
		_, _ = rand.Read(jti)
		now := time.Now()
		payload, _ := json.Marshal(map[string]any{"iss": "https://connect.example", "sub": id, "client_id": id,
			"aud": []string{r.PostFormValue("audience")}, "scope": r.PostFormValue("scope"),
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": base64.RawURLEncoding.EncodeToString(jti)})
		jws, err := signer.Sign(payload)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		tok, _ := jws.CompactSerialize()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 300, "scope": r.PostFormValue("scope")})
	}))
	// Idle connections closed at the end log handshake errors: not the benchmark's.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"detenus:read"}, "audience": {"https://api.example"}}
	measure(b, func() func() error {
		return func() error {
			_, err := postOK(b, c, srv.URL+"/token", form, id, secret)
			return err
		}
	})
}
