package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// The bailiffs' platform trades tokens that the chamber's IdP issued to the broker
// for justice tokens (RFC 8693 with an upstream subject token).
const (
	cjExchangerID     = "cj-platform"
	cjExchangerSecret = "cj-platform-secret-0123456789"
	idTokenType       = "urn:ietf:params:oauth:token-type:id_token"
	tokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// upstreamIDToken logs user in at the bailiffs' IdP as the broker's client there
// (what the broker does at login) and redeems the code itself: an ID token whose
// audience is the broker, as a platform federated with the chamber would hold.
func upstreamIDToken(t *testing.T, u *upstreams, user string) string {
	t.Helper()
	cl := u.cj.Client()
	p := harness.NewPKCE()
	auth := u.cj.Issuer + "/auth?" + url.Values{
		"client_id": {cl.ClientID}, "response_type": {"code"}, "scope": {"openid profile profession"},
		"redirect_uri": {cl.RedirectURIs[0]}, "state": {randomString(16)}, "nonce": {randomString(16)},
		"code_challenge": {p.Challenge}, "code_challenge_method": {"S256"},
	}.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cb, err := u.cj.Login(ctx, nil, auth, user, u.cj.User(t, user).Password, "")
	if err != nil {
		t.Fatalf("bailiffs' IdP login: %v", err)
	}
	code := cb.Query().Get("code")
	if code == "" {
		t.Fatalf("no code from the bailiffs' IdP: %s", cb)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cl.RedirectURIs[0]}, "code_verifier": {p.Verifier}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.cj.Issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(cl.ClientID), url.QueryEscape(cl.ClientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
		Error   string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.IDToken == "" {
		t.Fatalf("bailiffs' IdP token endpoint: %d %v %s", resp.StatusCode, err, tok.Error)
	}
	return tok.IDToken
}

func TestTokenExchangeUpstreamToken(t *testing.T) {
	// The platform's policy admits commissaires de justice only, so the upstream
	// token must state the profession: the chamber puts its claims in the ID token.
	u := startUpstreams(t, withCJ(func(o *peer.BailiffsIdPOptions) { o.IDTokenClaims = true }))
	const bailiff = "jdupont"
	subjectToken := upstreamIDToken(t, u, bailiff)
	exchange := func(token string) *harness.Tokens {
		return u.Token(t, cjExchangerID, cjExchangerSecret, url.Values{"grant_type": {tokenExchange},
			"subject_token": {token}, "subject_token_type": {idTokenType}, "audience": {harness.APIAudience}, "scope": {"profession"}})
	}
	got := exchange(subjectToken)
	if got.Status != http.StatusOK {
		t.Fatalf("exchange of an upstream ID token: %d %s %s", got.Status, got.Error, got.Description)
	}
	c := idTokenClaims(t, got.AccessToken)
	wantClaim(t, c, "profession", "commissaire_de_justice")
	wantClaim(t, c, "iss", u.Issuer)
	if c["acr"] != "eidas1" {
		t.Errorf("acr = %v: a password login at the chamber is eidas1 at most", c["acr"])
	}
	if c["exp"].(float64) > idTokenClaims(t, subjectToken)["exp"].(float64) {
		t.Error("the justice token outlives the upstream token")
	}

	// The same person logging in through the broker gets the same public sub.
	login, _ := u.loginCJ(t, u.Browser(), harness.MinistryID, bailiff)
	if login["sub"] != c["sub"] {
		t.Errorf("sub by exchange %v, by login %v: the broker keys people on (provider, upstream subject)", c["sub"], login["sub"])
	}

	t.Run("tampered upstream token", func(t *testing.T) {
		parts := strings.Split(subjectToken, ".")
		parts[2] = strings.Repeat("A", len(parts[2]))
		bad := exchange(strings.Join(parts, "."))
		if bad.Status != http.StatusBadRequest || bad.Error != "invalid_request" || bad.AccessToken != "" {
			t.Fatalf("%d %q, want 400 invalid_request", bad.Status, bad.Error)
		}
	})
	t.Run("client whose policy names no upstream", func(t *testing.T) {
		bad := u.Token(t, harness.MinistryID, harness.MinistrySecret, url.Values{"grant_type": {tokenExchange},
			"subject_token": {subjectToken}, "subject_token_type": {idTokenType}, "audience": {harness.APIAudience}})
		if bad.Status != http.StatusBadRequest || bad.AccessToken != "" {
			t.Fatalf("%d %q, want a refusal", bad.Status, bad.Error)
		}
	})
}
