package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/cmd/example-api/enfance"
	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

const (
	apiAudience     = "https://api.justice.example/enfance"
	portalID        = "portail-enfance"
	portalSecret    = "portail-enfance-secret-0123456789"
	tokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
	loginScope      = "openid profile profession jurisdictions justice_roles"
	exchangeScope   = "profession jurisdictions justice_roles"
)

// answer is what the example API returns on success.
type answer struct {
	Caller struct {
		Subject    string        `json:"sub"`
		Profession string        `json:"profession"`
		ACR        string        `json:"acr"`
		Act        *claims.Actor `json:"act"`
	} `json:"caller"`
	Dossiers []struct {
		ID     string `json:"id"`
		Urgent bool   `json:"urgent"`
	} `json:"dossiers"`
}

type response struct {
	status    int
	challenge string
	body      []byte
}

// A first-party portal logs users in, exchanges their tokens for the API's
// audience and calls the API; the API admits exactly what its routes require.
func TestExampleAPIWithExchangedTokens(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "portal")
	if err := os.WriteFile(secret, []byte(portalSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	env := harness.Start(t, harness.Options{ExtraYAML: `  - client_id: ` + portalID + `
    name: "Portail de l'enfance"
    kind: first_party
    secret: {file: "` + secret + `"}
    redirect_uris: ["` + harness.RedirectURI + `"]
    grant_types: [authorization_code, "` + tokenExchange + `"]
    scopes: [openid, profile, profession, jurisdictions, justice_roles]
    audience: ["` + apiAudience + `"]
`})

	v, err := claims.NewVerifier(claims.VerifierConfig{
		Issuer: env.Issuer, Audience: apiAudience, HTTPClient: env.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(enfance.NewAPI(v))
	t.Cleanup(api.Close)

	call := func(t *testing.T, path, token string) response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, api.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := api.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return response{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body}
	}
	login := func(t *testing.T, user string) *harness.Tokens {
		t.Helper()
		return env.Login(t, env.Browser(), portalID, portalSecret, user, url.Values{"scope": {loginScope}})
	}
	exchange := func(t *testing.T, user *harness.Tokens) string {
		t.Helper()
		got := env.Token(t, portalID, portalSecret, url.Values{
			"grant_type": {tokenExchange}, "subject_token": {user.AccessToken},
			"subject_token_type": {accessTokenType}, "audience": {apiAudience}, "scope": {exchangeScope},
		})
		if got.Status != http.StatusOK || got.AccessToken == "" {
			t.Fatalf("exchange: %d %s %s", got.Status, got.Error, got.Description)
		}
		return got.AccessToken
	}
	ok := func(t *testing.T, r response, profession string) answer {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("status %d, challenge %q, body %s; want 200", r.status, r.challenge, r.body)
		}
		var a answer
		if err := json.Unmarshal(r.body, &a); err != nil {
			t.Fatalf("body %s: %v", r.body, err)
		}
		if a.Caller.Subject == "" || a.Caller.Profession != profession || len(a.Dossiers) == 0 {
			t.Fatalf("answer %s: want a caller with sub and profession %s, and cases", r.body, profession)
		}
		return a
	}
	refused := func(t *testing.T, r response, status int, code string) {
		t.Helper()
		if r.status != status {
			t.Fatalf("status %d, challenge %q, body %s; want %d", r.status, r.challenge, r.body, status)
		}
		if !strings.HasPrefix(r.challenge, `Bearer realm="`+apiAudience+`"`) {
			t.Fatalf("WWW-Authenticate %q: want a Bearer challenge for realm %s", r.challenge, apiAudience)
		}
		hasError := strings.Contains(r.challenge, "error=")
		switch {
		case code == "" && hasError:
			t.Fatalf("WWW-Authenticate %q: want no error code (RFC 6750 §3.1, no credentials)", r.challenge)
		case code != "" && !strings.Contains(r.challenge, `error="`+code+`"`):
			t.Fatalf("WWW-Authenticate %q: want error=%q", r.challenge, code)
		}
		if strings.Contains(string(r.body), `"dossiers"`) {
			t.Fatalf("refusal leaked cases: %s", r.body)
		}
	}

	judge := login(t, harness.Judge)
	clerk := login(t, harness.Clerk)
	judgeAPI, clerkAPI := exchange(t, judge), exchange(t, clerk)

	t.Run("judge lists cases", func(t *testing.T) {
		a := ok(t, call(t, "/dossiers", judgeAPI), string(claims.Magistrat))
		if a.Caller.Act != nil {
			t.Errorf("act = %+v, want none (no actor token)", a.Caller.Act)
		}
	})
	t.Run("judge lists urgent cases", func(t *testing.T) {
		a := ok(t, call(t, "/dossiers/urgents", judgeAPI), string(claims.Magistrat))
		for _, d := range a.Dossiers {
			if !d.Urgent {
				t.Errorf("non-urgent case %s in /dossiers/urgents", d.ID)
			}
		}
		if !claims.ACR(a.Caller.ACR).AtLeast(enfance.MinACR) {
			t.Errorf("caller acr %q below %s", a.Caller.ACR, enfance.MinACR)
		}
	})
	t.Run("clerk lists cases", func(t *testing.T) {
		ok(t, call(t, "/dossiers", clerkAPI), string(claims.Greffier))
	})
	t.Run("clerk refused urgent cases", func(t *testing.T) {
		r := call(t, "/dossiers/urgents", clerkAPI)
		refused(t, r, http.StatusForbidden, "insufficient_scope")
		// The clerk is a greffier without juge_enfants@TJ75101; the acr is met.
		for _, unmet := range []string{"profession magistrat", "role juge_enfants at TJ75101"} {
			if !strings.Contains(r.challenge, unmet) {
				t.Errorf("WWW-Authenticate %q does not name %q", r.challenge, unmet)
			}
		}
		if strings.Contains(r.challenge, "authentication level") {
			t.Errorf("WWW-Authenticate %q names the acr, which the clerk meets", r.challenge)
		}
	})
	for _, path := range []string{"/dossiers", "/dossiers/urgents"} {
		t.Run("token for another audience "+path, func(t *testing.T) {
			// The user's own access token, before exchange, is not for this API.
			refused(t, call(t, path, judge.AccessToken), http.StatusUnauthorized, "invalid_token")
		})
		t.Run("no token "+path, func(t *testing.T) {
			refused(t, call(t, path, ""), http.StatusUnauthorized, "")
		})
		t.Run("ID token "+path, func(t *testing.T) {
			if judge.IDToken == "" {
				t.Fatal("no ID token from the login")
			}
			refused(t, call(t, path, judge.IDToken), http.StatusUnauthorized, "invalid_token")
		})
	}
}
