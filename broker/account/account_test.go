package account_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/web"
	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

type response struct {
	status   int
	location string
	body     string
}

func do(t *testing.T, b *http.Client, method, u string, form url.Values, header map[string]string) response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header.Get("Location"), html.UnescapeString(string(raw))}
}

func sameOrigin(env *harness.Env) map[string]string {
	return map[string]string{"Origin": env.Issuer, "Sec-Fetch-Site": "same-origin"}
}

// TestWithdrawConsent walks the whole story: consent given to a partner, seen on
// /compte, withdrawn there; then the partner's refresh token is dead, prompt=none
// gets consent_required and a plain authorization shows the consent page again.
func TestWithdrawConsent(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()

	if r := do(t, b, "GET", env.Issuer+"/compte", nil, nil); r.status != http.StatusOK || !strings.Contains(r.body, "Vous n’êtes pas connecté") {
		t.Fatalf("/compte without a session: %d %q", r.status, r.body)
	}

	scope := url.Values{"scope": {"openid profile profession offline_access"}}
	tok := env.Login(t, b, harness.PartnerID, harness.PartnerSecret, harness.Judge, scope)
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	// The consent holds: a second authorization goes straight back to the partner.
	p := harness.NewPKCE()
	if res := env.Walk(t, b, env.AuthURL(harness.PartnerID, p, scope), "", ""); res.Callback == nil || res.Callback.Query().Get("code") == "" {
		t.Fatalf("second authorization did not skip consent: %v", res.Pages)
	}

	r := do(t, b, "GET", env.Issuer+"/compte", nil, nil)
	today := web.Date("fr", time.Now().UTC())
	for _, want := range []string{"Mon compte JusticeConnect", "Camille Martin", "Plateforme partenaire", "Organisation : Médiation Exemple",
		"Vos nom et prénom", "Votre profession, votre numéro professionnel et votre organisation",
		"Un accès qui reste valable après votre déconnexion", today,
		`<form method="post" action="/compte/retirer">`, `name="client_id" value="partner"`, "Retirer mon accord"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/compte lacks %q", want)
		}
	}
	if r := do(t, b, "GET", env.Issuer+"/compte", nil, map[string]string{"Accept-Language": "en"}); !strings.Contains(r.body, "Applications you allowed") ||
		!strings.Contains(r.body, "Your first and last names") || !strings.Contains(r.body, web.Date("en", time.Now().UTC())) {
		t.Errorf("/compte in English: %q", r.body)
	}

	// Another site cannot make the browser withdraw (CrossOriginProtection).
	cross := do(t, b, "POST", env.Issuer+"/compte/retirer", url.Values{"client_id": {harness.PartnerID}},
		map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if cross.status != http.StatusForbidden {
		t.Errorf("cross-site withdrawal: %d, want 403", cross.status)
	}
	// Nor can a browser without the session.
	if r := do(t, env.Browser(), "POST", env.Issuer+"/compte/retirer", url.Values{"client_id": {harness.PartnerID}}, sameOrigin(env)); r.status != http.StatusSeeOther || r.location != "/compte" {
		t.Errorf("withdrawal without a session: %d %s", r.status, r.location)
	}
	if r := do(t, b, "POST", env.Issuer+"/compte/retirer", url.Values{"client_id": {harness.MinistryID}}, sameOrigin(env)); r.status != http.StatusSeeOther || r.location != "/compte?retrait=inconnu" {
		t.Errorf("withdrawing a consent never given: %d %s", r.status, r.location)
	}
	if res := env.Token(t, harness.PartnerID, harness.PartnerSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); res.Status != http.StatusOK {
		t.Fatalf("refresh before withdrawal: %d %s", res.Status, res.Error)
	} else {
		tok = res // rotated
	}

	r = do(t, b, "POST", env.Issuer+"/compte/retirer", url.Values{"client_id": {harness.PartnerID}}, sameOrigin(env))
	if r.status != http.StatusSeeOther || r.location != "/compte?retrait=ok" {
		t.Fatalf("withdraw: %d %s", r.status, r.location)
	}
	r = do(t, b, "GET", env.Issuer+r.location, nil, nil)
	if !strings.Contains(r.body, "Votre accord a été retiré.") || strings.Contains(r.body, `value="partner"`) ||
		!strings.Contains(r.body, "Vous n’avez donné votre accord à aucune application") {
		t.Errorf("/compte after withdrawal: %q", r.body)
	}

	if res := env.Token(t, harness.PartnerID, harness.PartnerSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); res.Status != http.StatusBadRequest || res.Error != "invalid_grant" {
		t.Errorf("refresh after withdrawal: %d %s, want 400 invalid_grant", res.Status, res.Error)
	}
	ui := do(t, env.HTTPClient(), "GET", env.Issuer+"/userinfo", nil, map[string]string{"Authorization": "Bearer " + tok.AccessToken})
	if ui.status != http.StatusUnauthorized {
		t.Errorf("userinfo with the access token after withdrawal: %d, want 401", ui.status)
	}

	none := url.Values{"scope": scope["scope"], "prompt": {"none"}}
	res := env.Walk(t, b, env.AuthURL(harness.PartnerID, harness.NewPKCE(), none), "", "")
	if res.Callback == nil || res.Callback.Query().Get("error") != "consent_required" {
		t.Errorf("prompt=none after withdrawal: callback %v, pages %v", res.Callback, res.Pages)
	}
	res = env.Walk(t, b, env.AuthURL(harness.PartnerID, harness.NewPKCE(), scope), "", "")
	if res.Callback != nil || !strings.Contains(res.Body, `name="decision"`) {
		t.Errorf("authorization after withdrawal does not ask consent: %v %v", res.Callback, res.Pages)
	}

	evs, err := env.Broker.Store.ListAudit(context.Background(), time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		if e.Type == audit.Consent && e.Details["action"] == "withdraw" {
			found = true
			if e.ClientID != harness.PartnerID || e.Subject == "" || e.Session == "" || e.Outcome != audit.OutcomeOK || e.Details["tokens_revoked"] == "0" {
				t.Errorf("audit event %+v", e)
			}
		}
	}
	if !found {
		t.Error("no audit event for the withdrawal")
	}
}
