package claims_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/claims/claimstest"
)

// fakeIntrospection is an RFC 7662 endpoint answering from a table.
type fakeIntrospection struct {
	t       *testing.T
	mu      sync.Mutex
	answers map[string]string // token -> JSON body
	status  int
	calls   int
}

func (f *fakeIntrospection) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	user, pass, ok := r.BasicAuth()
	// RFC 6749 §2.3.1: credentials are form-urlencoded inside Basic.
	if !ok || user != "api%3Adossiers" || pass != "s3cr%C3%A9t" {
		f.t.Errorf("basic auth %q %q %v", user, pass, ok)
	}
	if r.Method != "POST" || r.FormValue("token_type_hint") != "access_token" {
		f.t.Errorf("bad request %s %v", r.Method, r.Form)
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	body, ok := f.answers[r.FormValue("token")]
	if !ok {
		body = `{"active":false}`
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

func (f *fakeIntrospection) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// introspectingVerifier is a verifier for iss that introspects opaque tokens at
// fake, on the clock clk.
func introspectingVerifier(t *testing.T, iss *claimstest.Issuer, clk *clock, fake *fakeIntrospection) *claims.Verifier {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	cfg := iss.Config()
	cfg.Now = clk.Now
	cfg.Introspection = &claims.IntrospectionConfig{URL: srv.URL, ClientID: "api:dossiers", ClientSecret: "s3crét"}
	v, err := claims.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIntrospection(t *testing.T) {
	iss := claimstest.NewIssuer(t)
	clk := newClock()
	exp := t0.Add(10 * time.Minute).Unix()
	fake := &fakeIntrospection{t: t, answers: map[string]string{
		"ory_at_good.sig":      `{"active":true,"iss":"` + iss.Issuer() + `","aud":["` + claimstest.DefaultAudience + `"],"sub":"u1","client_id":"c","scope":"openid dossiers","exp":` + itoa(exp) + `,"token_type":"Bearer","profession":"greffier"}`,
		"ory_at_noiss.sig":     `{"active":true,"aud":"` + claimstest.DefaultAudience + `","sub":"u2"}`,
		"ory_at_other.sig":     `{"active":true,"aud":"https://other-api","sub":"u1"}`,
		"ory_at_noaud.sig":     `{"active":true,"sub":"u1"}`,
		"ory_at_wrongiss.sig":  `{"active":true,"iss":"https://evil","aud":"` + claimstest.DefaultAudience + `"}`,
		"ory_at_expired.sig":   `{"active":true,"aud":"` + claimstest.DefaultAudience + `","exp":` + itoa(t0.Add(-time.Hour).Unix()) + `}`,
		"ory_at_activestr.sig": `{"active":"true","aud":"` + claimstest.DefaultAudience + `"}`,
		"ory_at_badjson.sig":   `{"active":true,`,
		"soon":                 `{"active":true,"aud":"` + claimstest.DefaultAudience + `","exp":` + itoa(t0.Add(5*time.Second).Unix()) + `}`,
	}}
	v := introspectingVerifier(t, iss, clk, fake)
	ctx := context.Background()

	cases := []struct {
		token string
		want  error // nil = accepted
	}{
		{"ory_at_good.sig", nil},
		{"ory_at_noiss.sig", nil},
		{"ory_at_unknown.sig", claims.ErrInactive},
		{"ory_at_other.sig", claims.ErrWrongAudience},
		{"ory_at_noaud.sig", claims.ErrWrongAudience},
		{"ory_at_wrongiss.sig", claims.ErrWrongIssuer},
		{"ory_at_expired.sig", claims.ErrExpired},
		{"ory_at_activestr.sig", claims.ErrInactive},
		{"ory_at_badjson.sig", claims.ErrIntrospectionUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.token, func(t *testing.T) {
			c, err := v.Verify(ctx, tc.token)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Subject == "" || c.Extra["active"] != nil {
					t.Errorf("claims %+v", c)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if errors.Is(tc.want, claims.ErrIntrospectionUnavailable) == errors.Is(err, claims.ErrInvalidToken) {
				t.Errorf("error %v: ErrInvalidToken must match refusals only", err)
			}
		})
	}
	c, _ := v.Verify(ctx, "ory_at_good.sig")
	if c.Profession != claims.Greffier || !c.HasScope("dossiers") || c.Extra["token_type"] != "Bearer" {
		t.Errorf("introspected claims %+v", c)
	}

	// Answers, positive and negative, are cached; failures are not.
	before := fake.count()
	for _, tok := range []string{"ory_at_good.sig", "ory_at_unknown.sig", "ory_at_other.sig"} {
		_, _ = v.Verify(ctx, tok)
	}
	if n := fake.count() - before; n != 0 {
		t.Errorf("%d calls for cached answers", n)
	}
	_, _ = v.Verify(ctx, "ory_at_badjson.sig")
	if n := fake.count() - before; n != 1 {
		t.Errorf("failure cached: %d calls", n)
	}
	// The cache expires after CacheTTL, and never outlives the token's exp.
	if _, err := v.Verify(ctx, "soon"); err != nil {
		t.Fatal(err)
	}
	before = fake.count()
	clk.Advance(6 * time.Second) // past exp, within CacheTTL
	if _, err := v.Verify(ctx, "soon"); err != nil {
		t.Errorf("within leeway: %v", err)
	}
	if fake.count()-before != 1 {
		t.Error("cache entry outlived the token's exp")
	}
	clk.Advance(claims.DefaultLeeway)
	if _, err := v.Verify(ctx, "soon"); !errors.Is(err, claims.ErrExpired) {
		t.Errorf("past exp and leeway: %v", err)
	}
	clk.Advance(claims.DefaultIntrospectionCacheTTL)
	before = fake.count()
	_, _ = v.Verify(ctx, "ory_at_good.sig")
	if fake.count()-before != 1 {
		t.Error("cache entry outlived CacheTTL")
	}

	fake.mu.Lock()
	fake.status = 500
	fake.mu.Unlock()
	if _, err := v.Verify(ctx, "ory_at_fresh.sig"); !errors.Is(err, claims.ErrIntrospectionUnavailable) || errors.Is(err, claims.ErrInvalidToken) {
		t.Errorf("endpoint down: %v", err)
	}
}

// TestIntrospectionNotYetValidThenValid: an active token refused as not yet
// valid (nbf ahead, past the leeway) is accepted once nbf has come, from the
// cached answer: the answer is cached, the time rules are applied at each use.
func TestIntrospectionNotYetValidThenValid(t *testing.T) {
	iss := claimstest.NewIssuer(t)
	clk := newClock()
	nbf := t0.Add(claims.DefaultLeeway + 10*time.Second)
	fake := &fakeIntrospection{t: t, answers: map[string]string{
		"ory_at_later.sig": `{"active":true,"aud":"` + claimstest.DefaultAudience + `","sub":"u1","nbf":` + itoa(nbf.Unix()) +
			`,"exp":` + itoa(t0.Add(10*time.Minute).Unix()) + `}`,
	}}
	v := introspectingVerifier(t, iss, clk, fake)
	ctx := context.Background()
	if _, err := v.Verify(ctx, "ory_at_later.sig"); !errors.Is(err, claims.ErrNotYetValid) {
		t.Fatalf("before nbf: %v, want ErrNotYetValid", err)
	}
	clk.Advance(20 * time.Second) // nbf within the leeway now, the answer still cached
	if _, err := v.Verify(ctx, "ory_at_later.sig"); err != nil {
		t.Fatalf("once nbf came: %v", err)
	}
	if n := fake.count(); n != 1 {
		t.Errorf("%d introspection calls, want 1 (the answer cached)", n)
	}
}

func TestOpaqueWithoutIntrospection(t *testing.T) {
	_, v, _ := setup(t)
	for _, tok := range []string{"ory_at_abc.def", "opaque"} {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, claims.ErrMalformed) {
			t.Errorf("%s: %v", tok, err)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
