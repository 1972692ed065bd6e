package security

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

func payload(t *testing.T, jwt string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Partners get consent, a pairwise sub and only the claims of the scopes granted;
// ministry clients get the public sub (VOCABULARY.md).
func TestPartnerConsentAndPairwiseSubject(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	p := harness.NewPKCE()
	scope := url.Values{"scope": {"openid profession jurisdictions justice_roles"}}
	res := env.Walk(t, b, env.AuthURL(harness.PartnerID, p, scope), harness.Judge, "allow")
	if !contains(res.Pages, "/consent") {
		t.Fatalf("no consent page for a partner: %v", res.Pages)
	}
	partner := env.Redeem(t, harness.PartnerID, harness.PartnerSecret, res.Code(t), p)
	ministry := env.Login(t, b, harness.MinistryID, harness.MinistrySecret, "", nil)
	ps, ms := payload(t, partner.IDToken)["sub"], payload(t, ministry.IDToken)["sub"]
	if ps == ms || ps == "" {
		t.Fatalf("partner sub %v equals the public sub %v", ps, ms)
	}
	at := payload(t, partner.AccessToken)
	if at["profession"] != "magistrat" {
		t.Errorf("access token profession = %v", at["profession"])
	}
	if _, ok := at["email"]; ok {
		t.Error("e-mail in a partner access token without the email scope")
	}
	// Consent is remembered: a second login at the partner shows no consent page...
	p2 := harness.NewPKCE()
	res = env.Walk(t, b, env.AuthURL(harness.PartnerID, p2, scope), "", "")
	if contains(res.Pages, "/consent") {
		t.Errorf("consent asked again: %v", res.Pages)
	}
	res.Code(t)
	// ...unless prompt=consent; and prompt=none for new scopes is consent_required.
	scope.Set("prompt", "consent")
	res = env.Walk(t, b, env.AuthURL(harness.PartnerID, harness.NewPKCE(), scope), "", "")
	if !contains(res.Pages, "/consent") {
		t.Errorf("prompt=consent did not ask: %v", res.Pages)
	}
	res = env.Walk(t, b, env.AuthURL(harness.PartnerID, harness.NewPKCE(), url.Values{"scope": {"openid email"}, "prompt": {"none"}}), "", "")
	if res.Callback == nil || res.Callback.Query().Get("error") != "consent_required" {
		t.Errorf("prompt=none without consent: %v", res.Callback)
	}
}

// A23: the user refuses consent: access_denied to the client.
func TestConsentRefused(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	res := env.Walk(t, env.Browser(), env.AuthURL(harness.PartnerID, harness.NewPKCE(), nil), harness.Judge, "deny")
	if res.Callback == nil || res.Callback.Query().Get("error") != "access_denied" || res.Callback.Query().Get("code") != "" {
		t.Fatalf("%v", res.Callback)
	}
}

// Court codes not in the reference list never reach a claim (VOCABULARY.md).
func TestUnknownCourtNotIssued(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	tok := env.Login(t, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Clerk,
		url.Values{"scope": {"openid jurisdictions justice_roles"}})
	at := payload(t, tok.AccessToken)
	j, _ := at["jurisdictions"].([]any)
	if len(j) != 2 || j[0] != "TJ01053" || j[1] != "TJ75101" {
		t.Fatalf("jurisdictions = %v (TJ99999 must be dropped)", at["jurisdictions"])
	}
	r, _ := at["justice_roles"].([]any)
	if len(r) != 2 || r[0] != "greffier@TJ01053" || r[1] != "greffier@TJ75101" {
		t.Fatalf("justice_roles = %v", at["justice_roles"])
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
