package conformance

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

const (
	exchangerID     = "exchanger"
	exchangerSecret = "exchanger-secret-0123456789"
	tokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
	idTokenType     = "urn:ietf:params:oauth:token-type:id_token"
	// strictExchangerID may exchange tokens but its policy accepts no ID token.
	strictExchangerID = "exchanger-strict"
)

func exchangeEnv(t *testing.T) *harness.Env {
	secret := filepath.Join(t.TempDir(), "exchanger")
	if err := os.WriteFile(secret, []byte(exchangerSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	return harness.Start(t, harness.Options{ExtraYAML: `  - client_id: ` + exchangerID + `
    name: "API des juridictions"
    kind: first_party
    secret: {file: "` + secret + `"}
    redirect_uris: ["` + harness.RedirectURI + `"]
    grant_types: [authorization_code, "` + tokenExchange + `"]
    scopes: [openid, profile, profession, jurisdictions, justice_roles, "detenus:read"]
    audience: ["` + harness.APIAudience + `"]
    exchange_subject_tokens: [id_token]
  - client_id: ` + strictExchangerID + `
    name: "API stricte"
    kind: first_party
    secret: {file: "` + secret + `"}
    redirect_uris: ["` + harness.RedirectURI + `"]
    grant_types: [authorization_code, "` + tokenExchange + `"]
    scopes: [openid, profession]
    audience: ["` + harness.APIAudience + `"]
`})
}

// RFC 8693 and SECURITY.md J1-J11: an API client trades the user's token for one
// aimed at another API, never with more than it had.
func TestTokenExchange(t *testing.T) {
	env := exchangeEnv(t)
	user := env.Login(t, env.Browser(), exchangerID, exchangerSecret, harness.Judge, q("scope", "openid profession jurisdictions"))
	exchange := func(form url.Values) *harness.Tokens {
		form.Set("grant_type", tokenExchange)
		return env.Token(t, exchangerID, exchangerSecret, form)
	}
	ok := exchange(q("subject_token", user.AccessToken, "subject_token_type", accessTokenType, "audience", harness.APIAudience, "scope", "profession"))
	if ok.Status != http.StatusOK {
		t.Fatalf("exchange: %d %s %s", ok.Status, ok.Error, ok.Description)
	}
	if ok.RefreshToken != "" || ok.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("J11: refresh token %q, Cache-Control %q", ok.RefreshToken, ok.Header.Get("Cache-Control"))
	}
	c, orig := claimsOf(t, ok.AccessToken), claimsOf(t, user.AccessToken)
	if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != harness.APIAudience {
		t.Errorf("aud = %v", c["aud"])
	}
	if c["sub"] != orig["sub"] || c["profession"] != "magistrat" || c["scope"] != "profession" {
		t.Errorf("exchanged claims = %v", c)
	}
	if c["exp"].(float64) > orig["exp"].(float64) {
		t.Errorf("the new token outlives the subject token")
	}
	ministry := env.Login(t, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Clerk, nil)
	for name, tc := range map[string]struct {
		form url.Values
		want string
	}{
		"J1 no subject_token":         {q("subject_token_type", accessTokenType, "audience", harness.APIAudience), "invalid_request"},
		"J1 no subject_token_type":    {q("subject_token", user.AccessToken, "audience", harness.APIAudience), "invalid_request"},
		"J1 actor without type":       {q("subject_token", user.AccessToken, "subject_token_type", accessTokenType, "actor_token", user.AccessToken, "audience", harness.APIAudience), "invalid_request"},
		"J2 garbage subject token":    {q("subject_token", "not-a-token", "subject_token_type", accessTokenType, "audience", harness.APIAudience), "invalid_request"},
		"J2 tampered subject token":   {q("subject_token", tamperSignature(user.AccessToken), "subject_token_type", accessTokenType, "audience", harness.APIAudience), "invalid_request"},
		"J2 unsupported token type":   {q("subject_token", user.AccessToken, "subject_token_type", "urn:ietf:params:oauth:token-type:saml2", "audience", harness.APIAudience), "invalid_request"},
		"J3 token of another client":  {q("subject_token", ministry.AccessToken, "subject_token_type", accessTokenType, "audience", harness.APIAudience), "invalid_request"},
		"J5 scope wider than granted": {q("subject_token", user.AccessToken, "subject_token_type", accessTokenType, "audience", harness.APIAudience, "scope", "profession justice_roles"), "invalid_scope"},
		"J6 actor without delegation": {q("subject_token", user.AccessToken, "subject_token_type", accessTokenType, "actor_token", user.AccessToken, "actor_token_type", accessTokenType, "audience", harness.APIAudience), "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) {
			got := exchange(tc.form)
			if got.Status != http.StatusBadRequest || got.Error != tc.want || got.AccessToken != "" {
				t.Fatalf("%d %q (%s), want 400 %s", got.Status, got.Error, got.Description, tc.want)
			}
		})
	}
	t.Run("J4 audience not allowed", func(t *testing.T) {
		got := exchange(q("subject_token", user.AccessToken, "subject_token_type", accessTokenType, "audience", "https://api.justice.example/casier"))
		if got.Status != http.StatusBadRequest || got.AccessToken != "" || (got.Error != "invalid_target" && got.Error != "invalid_request") {
			t.Fatalf("%d %q", got.Status, got.Error)
		}
	})
	t.Run("J8 client without the grant", func(t *testing.T) {
		got := env.Token(t, harness.MinistryID, harness.MinistrySecret, q("grant_type", tokenExchange, "subject_token", ministry.AccessToken,
			"subject_token_type", accessTokenType, "audience", harness.APIAudience))
		if got.Status != http.StatusBadRequest || got.Error != "unauthorized_client" {
			t.Fatalf("%d %q", got.Status, got.Error)
		}
	})
}

// RFC 8693 §4.1 with SECURITY.md J6: an actor_token is accepted only while a
// delegation (kept in the store, managed by `justiceconnect delegations`) lets that
// actor act for the subject toward the requested audience; the new token names the
// actor in "act".
func TestTokenExchangeDelegation(t *testing.T) {
	env := exchangeEnv(t)
	ctx := context.Background()
	user := env.Login(t, env.Browser(), exchangerID, exchangerSecret, harness.Judge, q("scope", "openid profession jurisdictions"))
	clerk := env.Login(t, env.Browser(), exchangerID, exchangerSecret, harness.Clerk, q("scope", "openid profession"))
	// exchanger is first_party (subject_type public): its tokens' sub is the
	// broker's public subject, what delegations name.
	judgeSub, _ := claimsOf(t, user.AccessToken)["sub"].(string)
	clerkSub, _ := claimsOf(t, clerk.AccessToken)["sub"].(string)
	if judgeSub == "" || clerkSub == "" || judgeSub == clerkSub {
		t.Fatalf("subjects: judge %q, clerk %q", judgeSub, clerkSub)
	}
	exchange := func() *harness.Tokens {
		return env.Token(t, exchangerID, exchangerSecret, q("grant_type", tokenExchange,
			"subject_token", user.AccessToken, "subject_token_type", accessTokenType,
			"actor_token", clerk.AccessToken, "actor_token_type", accessTokenType,
			"audience", harness.APIAudience, "scope", "profession"))
	}
	wantRefused := func(t *testing.T, what string) {
		t.Helper()
		got := exchange()
		if got.Status != http.StatusBadRequest || got.Error != "invalid_request" || got.AccessToken != "" {
			t.Fatalf("%s: %d %q (%s), want 400 invalid_request", what, got.Status, got.Error, got.Description)
		}
	}
	now := time.Now()
	store := env.Broker.Store

	// A delegation toward another audience does not help.
	if err := store.CreateDelegation(ctx, &storage.Delegation{ID: "dlg-other-audience", Actor: clerkSub, Subject: judgeSub,
		Audiences: []string{"https://api.justice.example/casier"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "delegation for another audience")

	// Nor one for another subject (the clerk acting for someone else).
	if err := store.CreateDelegation(ctx, &storage.Delegation{ID: "dlg-other-subject", Actor: clerkSub, Subject: "someone-else",
		Audiences: []string{harness.APIAudience}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "delegation for another subject")

	// In force: accepted, and the token carries act.
	if err := store.CreateDelegation(ctx, &storage.Delegation{ID: "dlg-in-force", Actor: clerkSub, Subject: judgeSub,
		Audiences: []string{harness.APIAudience}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), Reason: "greffe"}); err != nil {
		t.Fatal(err)
	}
	ok := exchange()
	if ok.Status != http.StatusOK {
		t.Fatalf("exchange with a delegation in force: %d %s %s", ok.Status, ok.Error, ok.Description)
	}
	c := claimsOf(t, ok.AccessToken)
	if c["sub"] != judgeSub || c["profession"] != "magistrat" {
		t.Errorf("exchanged token is not the judge's: %v", c)
	}
	act, _ := c["act"].(map[string]any)
	if act == nil || act["sub"] != clerkSub || act["profession"] != "greffier" {
		t.Errorf("act = %v, want sub %q and profession greffier", c["act"], clerkSub)
	}
	if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != harness.APIAudience {
		t.Errorf("aud = %v", c["aud"])
	}

	// Revoked: the same exchange is refused.
	if err := store.RevokeDelegation(ctx, "dlg-in-force", time.Now()); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "after revocation")
}

// RFC 8693 §2.1 lets the server decide which subject token types it accepts: the
// broker's own ID tokens are accepted from a first-party client whose policy says so
// (exchange_subject_tokens: [id_token]), only for the client the ID token was
// issued to, and only while the SSO session it names is alive.
func TestTokenExchangeIDToken(t *testing.T) {
	env := exchangeEnv(t)
	exchange := func(id string, form url.Values) *harness.Tokens {
		form.Set("grant_type", tokenExchange)
		return env.Token(t, id, exchangerSecret, form)
	}
	user := env.Login(t, env.Browser(), exchangerID, exchangerSecret, harness.Judge, q("scope", "openid profession jurisdictions"))
	ok := exchange(exchangerID, q("subject_token", user.IDToken, "subject_token_type", idTokenType, "audience", harness.APIAudience, "scope", "profession"))
	if ok.Status != http.StatusOK {
		t.Fatalf("exchange of an ID token: %d %s %s", ok.Status, ok.Error, ok.Description)
	}
	c, id := claimsOf(t, ok.AccessToken), claimsOf(t, user.IDToken)
	if c["sub"] != id["sub"] || c["profession"] != "magistrat" || c["scope"] != "profession" || c["acr"] != id["acr"] {
		t.Errorf("claims of the token exchanged for an ID token = %v (ID token %v)", c, id)
	}
	if _, leaked := c["jurisdictions"]; leaked {
		t.Errorf("a claim of a scope not requested reached the token: %v", c)
	}
	if c["exp"].(float64) > id["exp"].(float64) {
		t.Errorf("the new token outlives the ID token")
	}

	strict := env.Login(t, env.Browser(), strictExchangerID, exchangerSecret, harness.Judge, q("scope", "openid profession"))
	for name, tc := range map[string]struct {
		client string
		form   url.Values
	}{
		"policy refuses ID tokens":         {strictExchangerID, q("subject_token", strict.IDToken, "subject_token_type", idTokenType, "audience", harness.APIAudience)},
		"ID token of another client":       {exchangerID, q("subject_token", strict.IDToken, "subject_token_type", idTokenType, "audience", harness.APIAudience)},
		"access token sent as an ID token": {exchangerID, q("subject_token", user.AccessToken, "subject_token_type", idTokenType, "audience", harness.APIAudience)},
		"tampered ID token":                {exchangerID, q("subject_token", tamperSignature(user.IDToken), "subject_token_type", idTokenType, "audience", harness.APIAudience)},
	} {
		t.Run(name, func(t *testing.T) {
			got := exchange(tc.client, tc.form)
			if got.Status != http.StatusBadRequest || got.Error != "invalid_request" || got.AccessToken != "" {
				t.Fatalf("%d %q (%s), want 400 invalid_request", got.Status, got.Error, got.Description)
			}
		})
	}

	t.Run("session ended", func(t *testing.T) {
		sid, _ := id["sid"].(string)
		if sid == "" {
			t.Fatal("the ID token has no sid")
		}
		if err := env.Broker.Store.EndSSOSession(context.Background(), sid, time.Now()); err != nil {
			t.Fatal(err)
		}
		got := exchange(exchangerID, q("subject_token", user.IDToken, "subject_token_type", idTokenType, "audience", harness.APIAudience))
		if got.Status != http.StatusBadRequest || got.Error != "invalid_request" {
			t.Fatalf("after logout: %d %q, want 400 invalid_request", got.Status, got.Error)
		}
	})
}
