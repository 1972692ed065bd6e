package claims_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/claims/claimstest"
)

func TestMiddleware(t *testing.T) {
	iss, _, _ := setup(t)
	cfg := iss.Config()
	cfg.Realm = "dossiers"
	v, err := claims.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var seen *claims.Claims
	h := v.Middleware(claims.HasScope("dossiers"), claims.HasProfession(claims.Magistrat))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := claims.FromContext(r.Context())
			if !ok {
				t.Error("no claims in context")
			}
			seen = c
			w.WriteHeader(http.StatusNoContent)
		}))
	ok := claims.Claims{Subject: "u1", Scope: "openid dossiers", Profession: claims.Magistrat}
	tok := iss.Mint(ok)

	cases := []struct {
		name      string
		headers   []string // Authorization values
		query     string
		status    int
		challenge string // exact WWW-Authenticate; "" = none expected
		errCode   string // JSON body error; "" = no body check
	}{
		{name: "valid", headers: []string{"Bearer " + tok}, status: 204},
		{name: "scheme case-insensitive", headers: []string{"bearer " + tok}, status: 204},
		{name: "no header", status: 401, challenge: `Bearer realm="dossiers"`},
		{name: "other scheme", headers: []string{"Basic dXNlcjpwdw=="}, status: 401, challenge: `Bearer realm="dossiers"`},
		{name: "garbage token", headers: []string{"Bearer abc.def.ghi"}, status: 401,
			challenge: `Bearer realm="dossiers", error="invalid_token", error_description="The access token is invalid"`, errCode: "invalid_token"},
		{name: "expired", headers: []string{"Bearer " + iss.Mint(claims.Claims{Scope: "dossiers", Profession: claims.Magistrat, IssuedAt: date(t0.Add(-time.Hour)), Expiry: date(t0.Add(-time.Minute))})}, status: 401,
			challenge: `Bearer realm="dossiers", error="invalid_token", error_description="The access token expired"`},
		{name: "other API", headers: []string{"Bearer " + iss.Mint(claims.Claims{Audience: []string{"https://other"}})}, status: 401,
			challenge: `Bearer realm="dossiers", error="invalid_token", error_description="The access token is not meant for this resource"`},
		{name: "ID token", headers: []string{"Bearer " + iss.MintWithHeader(map[string]any{"typ": "JWT"}, ok)}, status: 401,
			challenge: `Bearer realm="dossiers", error="invalid_token", error_description="Not an access token (typ must be at+jwt)"`},
		{name: "token in query", query: "access_token=" + tok, status: 400,
			challenge: `Bearer realm="dossiers", error="invalid_request", error_description="Send the access token in the Authorization header only"`, errCode: "invalid_request"},
		{name: "two Authorization headers", headers: []string{"Bearer " + tok, "Bearer " + tok}, status: 400,
			challenge: `Bearer realm="dossiers", error="invalid_request", error_description="Several Authorization headers"`},
		{name: "malformed bearer", headers: []string{"Bearer a b"}, status: 400,
			challenge: `Bearer realm="dossiers", error="invalid_request", error_description="Malformed Authorization header"`},
		{name: "empty bearer", headers: []string{"Bearer "}, status: 400,
			challenge: `Bearer realm="dossiers", error="invalid_request", error_description="Malformed Authorization header"`},
		{name: "missing scope", headers: []string{"Bearer " + iss.Mint(claims.Claims{Scope: "openid", Profession: claims.Magistrat})}, status: 403,
			challenge: `Bearer realm="dossiers", error="insufficient_scope", error_description="Missing: scope dossiers", scope="dossiers"`, errCode: "insufficient_scope"},
		{name: "missing scope and profession", headers: []string{"Bearer " + iss.Mint(claims.Claims{Scope: "openid", Profession: claims.Avocat})}, status: 403,
			challenge: `Bearer realm="dossiers", error="insufficient_scope", error_description="Missing: scope dossiers; profession magistrat", scope="dossiers"`},
		{name: "wrong profession only", headers: []string{"Bearer " + iss.Mint(claims.Claims{Scope: "dossiers", Profession: claims.Greffier})}, status: 403,
			challenge: `Bearer realm="dossiers", error="insufficient_scope", error_description="Missing: profession magistrat"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			r := httptest.NewRequest("GET", "/dossiers?"+tc.query, nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d (body %s)", w.Code, tc.status, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, tc.challenge)
			}
			if tc.status == 204 {
				if seen == nil || seen.Subject != "u1" {
					t.Errorf("handler saw %+v", seen)
				}
				return
			}
			if seen != nil {
				t.Error("handler ran on a refused request")
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Error("refusal without Cache-Control: no-store")
			}
			if tc.errCode != "" {
				var body struct{ Error string }
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != tc.errCode {
					t.Errorf("body %q, want error %q", w.Body, tc.errCode)
				}
			}
		})
	}
}

func TestMiddlewareIssuerDown(t *testing.T) {
	iss, v, _ := setup(t)
	iss.FailJWKS(502)
	h := v.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("handler ran") }))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+iss.Mint(claims.Claims{}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("WWW-Authenticate") != "" {
		t.Fatalf("status %d, challenge %q; want 503 without challenge", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestMiddlewareRealmDefaultsToAudienceAndIsSanitised(t *testing.T) {
	iss := claimstest.NewIssuer(t)
	cfg := iss.Config()
	v, _ := claims.NewVerifier(cfg)
	cfg.Realm = "a\"b\\c\né"
	v2, _ := claims.NewVerifier(cfg)
	for _, tc := range []struct {
		v    *claims.Verifier
		want string
	}{
		{v, `Bearer realm="` + claimstest.DefaultAudience + `"`},
		{v2, `Bearer realm="a_b_c__"`},
	} {
		w := httptest.NewRecorder()
		tc.v.Middleware()(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if got := w.Header().Get("WWW-Authenticate"); got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

func TestContext(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if _, ok := claims.FromContext(r.Context()); ok {
		t.Fatal("claims in an empty context")
	}
	c := &claims.Claims{Subject: "s"}
	got, ok := claims.FromContext(claims.NewContext(r.Context(), c))
	if !ok || got != c {
		t.Fatalf("got %v %v", got, ok)
	}
	if _, ok := claims.FromContext(claims.NewContext(r.Context(), nil)); ok {
		t.Fatal("nil claims reported present")
	}
}
