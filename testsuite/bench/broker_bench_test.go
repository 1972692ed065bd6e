package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// The broker benchmarks run a real broker in-process behind HTTPS (SQLite store)
// and report operations per second next to the raw ES256 signing rate measured in
// the same run (BenchmarkRawES256Sign), so ratios survive noisy machines:
//
//	go test -run '^$' -bench 'Raw|Broker' -benchtime 3s ./testsuite/bench/

// BenchmarkRawES256Sign is the baseline: go-jose v4 ES256 compact signatures.
func BenchmarkRawES256Sign(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"iss":"https://connect.example","sub":"abc","aud":["api"],"exp":1900000000,"iat":1800000000,"jti":"x","client_id":"c","scope":"openid"}`)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			jws, err := signer.Sign(payload)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := jws.CompactSerialize(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	report(b, nil)
}

// latencies collects per-operation durations for p50/p99.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func report(b *testing.B, l *latencies) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	if l == nil || len(l.d) == 0 {
		return
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	b.ReportMetric(float64(l.d[len(l.d)*50/100].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(l.d[len(l.d)*99/100].Microseconds())/1000, "p99-ms")
}

// measure runs an operation from 32 goroutines (16 per core on 2 cores) and
// reports ops/s, p50 and p99. newOp is called once per goroutine, so each can keep
// its own state (a refresh token family).
func measure(b *testing.B, newOp func() func() error) {
	var l latencies
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		op := newOp()
		for pb.Next() {
			start := time.Now()
			if err := op(); err != nil {
				b.Error(err)
				return
			}
			l.add(time.Since(start))
		}
	})
	report(b, &l)
}

// postOK posts and turns any status but 200 into an error.
func postOK(b *testing.B, c *http.Client, u string, form url.Values, id, secret string) ([]byte, error) {
	status, body := post(b, c, u, form, id, secret)
	if status != http.StatusOK {
		return body, fmt.Errorf("%s: %d %s", u, status, body)
	}
	return body, nil
}

func post(b *testing.B, c *http.Client, u string, form url.Values, id, secret string) (int, []byte) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, body
}

// BenchmarkBrokerClientCredentials: token endpoint, client_credentials (one JWT
// access token signed and stored per operation; the client's bcrypt check is paid
// once, then remembered).
func BenchmarkBrokerClientCredentials(b *testing.B) {
	env := harness.Start(b, harness.Options{})
	c := env.HTTPClient()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"detenus:read"}, "audience": {harness.APIAudience}}
	// Warm up: the first authentication of a client pays bcrypt once.
	post(b, c, env.Issuer+"/token", form, harness.APIClientID, harness.APISecret)
	measure(b, func() func() error {
		return func() error {
			_, err := postOK(b, c, env.Issuer+"/token", form, harness.APIClientID, harness.APISecret)
			return err
		}
	})
}

// BenchmarkBrokerSSOCodeFlow: a browser with an SSO session runs authorize -> code
// -> token (client authentication included) per operation.
func BenchmarkBrokerSSOCodeFlow(b *testing.B) {
	flow := ssoCodeFlow(b)
	measure(b, func() func() error { return flow })
}

// ssoCodeFlow starts a broker, logs a judge in and returns one SSO code flow:
// authorize with the session cookie, then the code redeemed at the token
// endpoint. It is safe for concurrent use.
func ssoCodeFlow(b *testing.B) func() error {
	env := harness.Start(b, harness.Options{})
	browser := env.Browser()
	env.Login(b, browser, harness.MinistryID, harness.MinistrySecret, harness.Judge, nil)
	c := env.HTTPClient()
	return func() error {
		p := harness.NewPKCE()
		resp, err := browser.Get(env.AuthURL(harness.MinistryID, p, nil))
		if err != nil {
			return err
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil || loc.Query().Get("code") == "" {
			return fmt.Errorf("authorize: %d %v", resp.StatusCode, loc)
		}
		_, err = postOK(b, c, env.Issuer+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {harness.RedirectURI}, "code_verifier": {p.Verifier}}, harness.MinistryID, harness.MinistrySecret)
		return err
	}
}

// BenchmarkBrokerSSOLatency: the SSO code flow of one broker at 1 to 32 flows in
// flight, then at 32 in flight paced to 50 % and 70 % of the rate reached
// unpaced at 32 in this run. Issue #8 asks p99 <= 20 ms at concurrency 32; this
// shows how p99 grows with what is in flight and with the load, on this
// machine's cores. A paced flow's latency counts from its slot, not from when a
// worker got to it, so a broker running late is not excused (no coordinated
// omission).
//
//	go test -run '^$' -bench BrokerSSOLatency -benchtime 3s ./testsuite/bench/
func BenchmarkBrokerSSOLatency(b *testing.B) {
	flow := ssoCodeFlow(b)
	var capacity float64
	for _, workers := range []int{1, 2, 4, 8, 16, 32} {
		b.Run(fmt.Sprintf("c=%d", workers), func(b *testing.B) {
			rate := measureAt(b, workers, 0, flow)
			if workers == 32 {
				capacity = rate
			}
		})
	}
	for _, share := range []float64{0.5, 0.7} {
		b.Run(fmt.Sprintf("c=32,paced=%.0f%%", share*100), func(b *testing.B) {
			if capacity == 0 {
				b.Skip("needs the unpaced c=32 run first (run the whole benchmark)")
			}
			measureAt(b, 32, share*capacity, flow)
		})
	}
}

// measureAt runs op b.N times from the given number of workers, paced to rate
// operations per second in all (0: as fast as they go), reports ops/s, p50 and
// p99, and returns the ops/s.
func measureAt(b *testing.B, workers int, rate float64, op func() error) float64 {
	var (
		l    latencies
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		slot time.Time
	)
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	b.ResetTimer()
	slot = time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				start := time.Now()
				if interval > 0 {
					mu.Lock()
					start, slot = slot, slot.Add(interval)
					mu.Unlock()
					time.Sleep(time.Until(start))
				}
				if err := op(); err != nil {
					b.Error(err)
					return
				}
				l.add(time.Since(start))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	report(b, &l)
	return float64(b.N) / b.Elapsed().Seconds()
}

// BenchmarkBrokerRefresh: each goroutine keeps its own refresh token family and
// rotates it per operation.
func BenchmarkBrokerRefresh(b *testing.B) {
	env := harness.Start(b, harness.Options{})
	c := env.HTTPClient()
	var mu sync.Mutex
	measure(b, func() func() error {
		mu.Lock()
		rt := env.Login(b, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Judge, nil).RefreshToken
		mu.Unlock()
		return func() error {
			body, err := postOK(b, c, env.Issuer+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, harness.MinistryID, harness.MinistrySecret)
			rt = between(string(body), `"refresh_token":"`, `"`)
			return err
		}
	})
}

// BenchmarkBrokerIntrospection: RFC 7662 for one access token.
func BenchmarkBrokerIntrospection(b *testing.B) {
	env := harness.Start(b, harness.Options{})
	tok := env.Login(b, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Judge, nil)
	c := env.HTTPClient()
	form := url.Values{"token": {tok.AccessToken}}
	post(b, c, env.Issuer+"/token/introspection", form, harness.MinistryID, harness.MinistrySecret)
	measure(b, func() func() error {
		return func() error {
			body, err := postOK(b, c, env.Issuer+"/token/introspection", form, harness.MinistryID, harness.MinistrySecret)
			if err == nil && !strings.Contains(string(body), `"active":true`) {
				err = fmt.Errorf("introspection: %s", body)
			}
			return err
		}
	})
}

// BenchmarkBrokerJWKS: the JWKS endpoint.
func BenchmarkBrokerJWKS(b *testing.B) {
	env := harness.Start(b, harness.Options{})
	c := env.HTTPClient()
	measure(b, func() func() error {
		return func() error {
			resp, err := c.Get(env.Issuer + "/jwks")
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("jwks: %d", resp.StatusCode)
			}
			return nil
		}
	})
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	j := strings.Index(s, to)
	if j < 0 {
		return ""
	}
	return s[:j]
}

// BenchmarkBrokerTokenExchange: an API client trades a user's access token for one
// aimed at another API (RFC 8693), at concurrency 32.
func BenchmarkBrokerTokenExchange(b *testing.B) {
	const id, secret = "exchanger", "exchanger-secret-0123456789"
	secretFile := filepath.Join(b.TempDir(), id)
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		b.Fatal(err)
	}
	env := harness.Start(b, harness.Options{ExtraYAML: `  - client_id: exchanger
    name: "API des juridictions"
    kind: first_party
    secret: {file: "` + secretFile + `"}
    redirect_uris: ["` + harness.RedirectURI + `"]
    grant_types: [authorization_code, "urn:ietf:params:oauth:grant-type:token-exchange"]
    scopes: [openid, profession, jurisdictions]
    audience: ["` + harness.APIAudience + `"]
`})
	user := env.Login(b, env.Browser(), id, secret, harness.Judge, url.Values{"scope": {"openid profession"}})
	c := env.HTTPClient()
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {user.AccessToken},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "audience": {harness.APIAudience}, "scope": {"profession"}}
	post(b, c, env.Issuer+"/token", form, id, secret)
	measure(b, func() func() error {
		return func() error {
			_, err := postOK(b, c, env.Issuer+"/token", form, id, secret)
			return err
		}
	})
}
