package browser

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// Issue #5 in a real browser: lawyers through the bar's SimpleSAMLphp, bailiffs
// through the chamber's oidc-provider, each upstream's own login form filled in
// Chromium; logout reaches the upstream, so the next login asks for the password
// there again.

const (
	// pageWait bounds one wait for a page (redirect chains, auto-POST forms) on a
	// loaded machine.
	pageWait    = 20 * time.Second
	unavailable = "momentanément indisponible"
	// The upstreams' own words (SimpleSAMLphp answers in French or English
	// depending on Accept-Language; the bailiffs' IdP is French).
	sspBadPassword = "incorrect"
	cjBadPassword  = "Identifiant ou mot de passe incorrect."
)

// pageState is where the tab is and what it shows.
type pageState struct{ loc, text string }

// waitFor polls the tab until cond holds: the page may still be moving (an
// auto-POST form, a chain of redirects). Errors while a document is replaced are
// retried; after timeout the test fails with the page it is stuck on.
func waitFor(t *testing.T, b *peer.Browser, what string, cond func(p pageState) bool) pageState {
	t.Helper()
	deadline := time.Now().Add(pageWait)
	var p pageState
	for {
		ctx, cancel := context.WithTimeout(b.Ctx, 5*time.Second)
		loc, err1 := chromedp.Run(ctx, chromedp.Location())
		text, err2 := chromedp.Run(ctx, chromedp.Evaluate[string]("document.readyState === 'complete' && document.body ? document.body.innerText : ''"))
		cancel()
		if err1 == nil && err2 == nil {
			p = pageState{loc, text}
			if cond(p) {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v; the tab is at %s showing:\n%s\nvisited: %v", what, pageWait, p.loc, p.text, b.Visited())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// at waits until the tab shows a page under prefix that contains every text.
func at(t *testing.T, b *peer.Browser, what, prefix string, texts ...string) pageState {
	t.Helper()
	return waitFor(t, b, what, func(p pageState) bool {
		if !strings.HasPrefix(p.loc, prefix) {
			return false
		}
		for _, s := range texts {
			if !strings.Contains(strings.ToLower(p.text), strings.ToLower(s)) {
				return false
			}
		}
		return true
	})
}

// otherTab opens u in a second tab of the same browser (same cookies) and returns
// its text; the tab is closed afterwards and the first tab keeps its page.
func otherTab(t *testing.T, b *peer.Browser, u string) string {
	t.Helper()
	tab, cancel := chromedp.NewContext(b.Ctx)
	defer cancel()
	if _, err := chromedp.RunResponse(tab, chromedp.Navigate(u)); err != nil {
		t.Fatalf("second tab: open %s: %v", u, err)
	}
	text, err := chromedp.Run(tab, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	if err != nil {
		t.Fatalf("second tab: text of %s: %v", u, err)
	}
	return text
}

// choose presses the chooser's button of provider id.
func choose(t *testing.T, b *peer.Browser, id string) {
	t.Helper()
	b.Submit("choose "+id, chromedp.Click(chromedp.CSS(`form:has(input[name=provider][value=`+id+`]) button[type=submit]`), chromedp.NodeVisible))
}

// fill replaces the values of fields (CSS selector -> value) and submits with the
// button.
func fill(t *testing.T, b *peer.Browser, what string, fields [][2]string, button string) {
	t.Helper()
	var acts []chromedp.Action[chromedp.Void]
	for _, f := range fields {
		acts = append(acts, chromedp.WaitVisible(chromedp.CSS(f[0])), chromedp.SetValue(chromedp.CSS(f[0]), f[1]))
	}
	if err := chromedp.Do(b.Ctx, acts...); err != nil {
		t.Fatalf("%s: fill in the form at %s: %v", what, b.Location(), err)
	}
	b.Submit(what, chromedp.Click(chromedp.CSS(button), chromedp.NodeVisible))
}

// sspLoginForm waits for SimpleSAMLphp's own login form.
func (s *stack) sspLoginForm(t *testing.T, what string) pageState {
	t.Helper()
	p := waitFor(t, s.browser, what, func(p pageState) bool {
		return strings.HasPrefix(p.loc, s.ssp.BaseURL+"/") && strings.Contains(p.loc, "loginuserpass")
	})
	if err := chromedp.Do(s.browser.Ctx, chromedp.WaitVisible(chromedp.ID("password"))); err != nil {
		t.Fatalf("%s: no password field at SimpleSAMLphp: %v", what, err)
	}
	return p
}

func (s *stack) sspSubmit(t *testing.T, user, password string) {
	t.Helper()
	fill(t, s.browser, "log in at the bar's IdP", [][2]string{{"#username", user}, {"#password", password}}, "#submit_button")
}

// cjLoginForm waits for the bailiffs' IdP's own login form.
func (s *stack) cjLoginForm(t *testing.T, what string) pageState {
	t.Helper()
	return at(t, s.browser, what, s.cj.Issuer+"/interaction/", "Connexion", "Mot de passe")
}

func (s *stack) cjSubmit(t *testing.T, user, password string) {
	t.Helper()
	fill(t, s.browser, "log in at the bailiffs' IdP", [][2]string{{"input[name=login]", user}, {"input[name=password]", password}}, "form button[type=submit]")
}

// noBrokerSession checks, in a second tab, that the broker has no session for
// this browser: its account page says so.
func (s *stack) noBrokerSession(t *testing.T, when string) {
	t.Helper()
	if got := otherTab(t, s.browser, s.issuer+"/compte"); !strings.Contains(got, "Vous n’êtes pas connecté") {
		t.Fatalf("%s: the broker has a session for this browser; /compte shows:\n%s", when, got)
	}
}

func wantClaims(t *testing.T, got map[string]any, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if fmt.Sprint(got[k]) != v {
			t.Errorf("claim %s = %v, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// TestLawyerThroughSAMLIdP: a lawyer chooses "Avocats du barreau", types a wrong
// password into SimpleSAMLphp's own form (its error, no broker session), then the
// right one; the signed assertion comes back through the browser's auto-POST, and
// A gets profession avocat, barreau and the lawyer's number. Logging out at A
// goes through the IdP's single logout service, so the next login asks for the
// password at the IdP again.
func TestLawyerThroughSAMLIdP(t *testing.T) {
	s := startStack(t, stackOptions{upstreams: true})
	b := s.browser
	b.Open(s.a.URL + "/login")
	page := expect(t, b, "chooser", chooserTitle, labelAnnuaire, labelBarreau, labelCJ)
	if strings.Contains(page, unavailable) {
		t.Fatalf("a provider is marked unavailable while every peer runs:\n%s", page)
	}
	expectStyled(t, b)
	b.Screenshot("chooser-all-providers")

	choose(t, b, "barreau")
	s.sspLoginForm(t, "SimpleSAMLphp's login form")
	b.Screenshot("saml-idp-login")
	s.sspSubmit(t, "adupont", "pas-le-bon-mot-de-passe")
	p := s.sspLoginForm(t, "SimpleSAMLphp after a wrong password")
	if !strings.Contains(strings.ToLower(p.text), sspBadPassword) {
		t.Fatalf("SimpleSAMLphp shows no error after a wrong password:\n%s", p.text)
	}
	b.Screenshot("saml-idp-wrong-password")
	s.noBrokerSession(t, "after a wrong password at the bar's IdP")
	if a := s.a.Last(); a != nil {
		t.Fatalf("A has a session after a wrong password: %v", a.Info)
	}

	s.sspSubmit(t, "adupont", peer.DefaultSAMLUsers()[0].Password)
	at(t, b, "A after the lawyer's login", s.a.URL+"/me", "Connecté", "avocat", "Paris")
	b.Screenshot("rp-a-claims-lawyer")
	if !contains(visitedPaths(b, s.issuer), "/login/callback/barreau") {
		t.Errorf("the assertion did not reach the broker's ACS: %v", b.Visited())
	}
	a := s.a.Last()
	if a == nil {
		t.Fatalf("A has no session; errors: %v", s.a.Errors())
	}
	wantClaims(t, a.Info, map[string]string{"profession": "avocat", "barreau": "Paris", "professional_id": "P0042",
		"given_name": "Anne", "family_name": "Dupont", "email": "anne.dupont@avocat-paris.example"})
	if a.Claims["sid"] == nil || a.Claims["acr"] == nil {
		t.Errorf("A's ID token has no sid or acr: %v", a.Claims)
	}

	// RP-initiated logout at A: the broker sends a LogoutRequest to the IdP's
	// single logout service, which answers at the broker, which returns to A.
	b.ForgetVisited()
	b.Submit("logout at A", chromedp.Click(chromedp.ID("logout"), chromedp.NodeVisible))
	at(t, b, "A after logout", s.a.URL+"/logged-out", "Vous êtes déconnecté de l'application A", "state logout-state")
	var slo, back bool
	for _, v := range b.Visited() {
		slo = slo || strings.HasPrefix(v, s.ssp.SLOURL+"?")
		back = back || strings.HasPrefix(v, s.issuer+"/session/end/return")
	}
	if !slo || !back {
		t.Fatalf("logout did not go through the IdP's single logout and back (SLO %v, return %v): %v", slo, back, b.Visited())
	}
	s.noBrokerSession(t, "after logout")

	// Next login: the chooser remembers the bar, and the IdP asks again.
	b.Open(s.a.URL + "/login")
	// The badge is upper-cased by the DSFR stylesheet (innerText shows it so).
	page = expect(t, b, "chooser after logout", chooserTitle)
	if i := strings.Index(strings.ToLower(page), "utilisé lors de votre dernière connexion"); i < 0 ||
		strings.Index(page, labelBarreau) > strings.Index(page, labelAnnuaire) || !strings.Contains(page[:i], labelBarreau) {
		t.Errorf("the chooser does not mark the bar's IdP as last used:\n%s", page)
	}
	b.Screenshot("chooser-last-used")
	choose(t, b, "barreau")
	s.sspLoginForm(t, "SimpleSAMLphp after logout (its session must be gone)")
	s.sspSubmit(t, "adupont", peer.DefaultSAMLUsers()[0].Password)
	at(t, b, "A after the second login", s.a.URL+"/me", "Connecté", "avocat")
}

// TestBailiffThroughOIDCIdP: the same for a commissaire de justice at the
// chamber's oidc-provider; logout at A goes through the IdP's end_session
// endpoint (its own confirmation page) and back.
func TestBailiffThroughOIDCIdP(t *testing.T) {
	s := startStack(t, stackOptions{upstreams: true})
	b := s.browser
	b.Open(s.a.URL + "/login")
	expect(t, b, "chooser", chooserTitle, labelCJ)
	choose(t, b, "cj")
	s.cjLoginForm(t, "the bailiffs' IdP's login form")
	b.Screenshot("oidc-idp-login")
	s.cjSubmit(t, "jdupont", "pas-le-bon-mot-de-passe")
	s.cjLoginForm(t, "the bailiffs' IdP after a wrong password")
	expect(t, b, "the bailiffs' IdP after a wrong password", cjBadPassword)
	b.Screenshot("oidc-idp-wrong-password")
	s.noBrokerSession(t, "after a wrong password at the bailiffs' IdP")

	s.cjSubmit(t, "jdupont", s.cj.User(t, "jdupont").Password)
	at(t, b, "A after the bailiff's login", s.a.URL+"/me", "Connecté", "commissaire_de_justice")
	b.Screenshot("rp-a-claims-bailiff")
	a := s.a.Last()
	if a == nil {
		t.Fatalf("A has no session; errors: %v", s.a.Errors())
	}
	wantClaims(t, a.Info, map[string]string{"profession": "commissaire_de_justice", "professional_id": "CJ-75-0042",
		"organization": "Étude Dupont", "given_name": "Jeanne", "family_name": "Dupont"})
	if _, ok := a.Info["barreau"]; ok {
		t.Errorf("a bailiff got a barreau claim: %v", a.Info)
	}

	// RP-initiated logout at A, then at the IdP (OIDC RP-Initiated Logout §2: it
	// asks the person to confirm), then back through the broker to A.
	b.ForgetVisited()
	b.Submit("logout at A", chromedp.Click(chromedp.ID("logout"), chromedp.NodeVisible))
	at(t, b, "the bailiffs' IdP's logout confirmation", s.cj.Issuer+"/session/end")
	b.Screenshot("oidc-idp-logout-confirm")
	b.Submit("confirm at the IdP", chromedp.Click(chromedp.CSS(`button[name=logout][value=yes]`), chromedp.NodeVisible))
	at(t, b, "A after logout", s.a.URL+"/logged-out", "Vous êtes déconnecté de l'application A", "state logout-state")
	if !contains(visitedPaths(b, s.issuer), "/session/end/return") {
		t.Fatalf("the IdP did not return to the broker: %v", b.Visited())
	}
	s.noBrokerSession(t, "after logout")

	b.Open(s.a.URL + "/login")
	expect(t, b, "chooser after logout", chooserTitle)
	choose(t, b, "cj")
	s.cjLoginForm(t, "the bailiffs' IdP after logout (its session must be gone)")
	s.cjSubmit(t, "jdupont", s.cj.User(t, "jdupont").Password)
	at(t, b, "A after the second login", s.a.URL+"/me", "Connecté", "commissaire_de_justice")
}

// TestBailiffCancelsAtIdP: the bailiff presses "Annuler" on the IdP's form: it
// answers access_denied (RFC 6749 §4.1.2.1), and the broker shows its French
// page with an incident reference, without a session.
func TestBailiffCancelsAtIdP(t *testing.T) {
	s := startStack(t, stackOptions{upstreams: true})
	b := s.browser
	b.Open(s.a.URL + "/login?idp_hint=cj")
	s.cjLoginForm(t, "the bailiffs' IdP's login form")
	b.Submit("Annuler at the IdP", chromedp.Click(chromedp.CSS(`a[href$="/abort"]`), chromedp.NodeVisible))
	at(t, b, "the broker after a cancel at the IdP", s.issuer+"/login/callback/cj", "Connexion annulée",
		"Vous avez annulé la connexion", "Retourner à", "Identifiant de l'incident")
	expectStyled(t, b)
	b.Screenshot("error-cancelled-at-idp")
	s.noBrokerSession(t, "after a cancel at the bailiffs' IdP")
	// The way back: A's redirect URI receives access_denied (OIDC Core 3.1.2.6).
	b.ForgetVisited()
	b.Submit("Retourner à A", chromedp.Click(chromedp.CSS(`a.fr-btn--secondary`), chromedp.NodeVisible))
	var answer *url.URL
	for _, v := range b.Visited() {
		if strings.HasPrefix(v, s.a.URL+"/callback?") {
			answer, _ = url.Parse(v)
		}
	}
	if answer == nil || answer.Query().Get("error") != "access_denied" || answer.Query().Get("state") == "" {
		t.Fatalf("after the way back A received %v; want error=access_denied with its state (visited %v)", answer, b.Visited())
	}
	if a := s.a.Last(); a != nil {
		t.Fatalf("A has a session after a cancel at the IdP: %v", a.Info)
	}
}

// TestUpstreamDownInBrowser: with the bailiffs' IdP stopped, an application that
// may only use that IdP gets the broker's French 503 page with an incident
// reference instead of a dead link; the chooser of another application still
// lists it, marked unavailable and not pressable, and the other ways work.
func TestUpstreamDownInBrowser(t *testing.T) {
	s := startStack(t, stackOptions{upstreams: true})
	b := s.browser
	s.cj.Stop()
	// Past the provider's discovery cache, so that its health check asks again.
	s.cjSkew.Store(int64(time.Minute))

	// Client C may use the bailiffs' IdP only (and the browser has no session).
	b.Open(s.issuer + "/authorize?" + authQuery(cjOnlyID, s.a.URL+"/callback", ""))
	p := at(t, b, "C's login with its only IdP down", s.issuer, "Ce moyen d'identification est momentanément indisponible", "Identifiant de l'incident")
	if strings.Contains(p.text, labelBarreau) || strings.Contains(p.text, labelAnnuaire) {
		t.Errorf("C's page offers a provider C may not use:\n%s", p.text)
	}
	expectStyled(t, b)
	b.Screenshot("error-only-provider-down")

	b.Open(s.a.URL + "/login")
	expect(t, b, "chooser with the bailiffs' IdP down", chooserTitle, labelCJ, unavailable, labelBarreau)
	expectStyled(t, b)
	b.Screenshot("chooser-provider-down")
	n, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll('input[name=provider][value=cj]').length`))
	if err != nil || n != 0 {
		t.Fatalf("the stopped provider can still be chosen (%d forms, %v)", n, err)
	}
	disabled, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll('button')].some(e => e.textContent.trim() === `+"`"+labelCJ+"`"+` && e.disabled)`))
	if err != nil || !disabled {
		t.Errorf("no disabled %q button on the chooser (%v)", labelCJ, err)
	}

	// The lawyer's way still works from the same chooser.
	choose(t, b, "barreau")
	s.sspLoginForm(t, "SimpleSAMLphp while the other IdP is down")
	s.sspSubmit(t, "bmartin", peer.DefaultSAMLUsers()[1].Password)
	at(t, b, "A after a lawyer's login", s.a.URL+"/me", "Connecté", "avocat", "Lyon")
}

// TestRestrictedClientRefusesOtherProvidersSession: client C may use the
// bailiffs' IdP only (allowed_providers: [cj]). A lawyer's SSO session, opened
// through the bar's IdP at A, must not answer C's authorization request: C would
// get a lawyer it never accepted. The broker must ask for a login C may use.
func TestRestrictedClientRefusesOtherProvidersSession(t *testing.T) {
	s := startStack(t, stackOptions{upstreams: true})
	b := s.browser
	b.Open(s.a.URL + "/login?idp_hint=barreau")
	s.sspLoginForm(t, "SimpleSAMLphp")
	s.sspSubmit(t, "adupont", peer.DefaultSAMLUsers()[0].Password)
	at(t, b, "A after the lawyer's login", s.a.URL+"/me", "Connecté", "avocat")

	b.ForgetVisited()
	b.Open(s.issuer + "/authorize?" + authQuery(cjOnlyID, s.a.URL+"/callback", ""))
	p := waitFor(t, b, "C's authorization request", func(p pageState) bool {
		return strings.HasPrefix(p.loc, s.cj.Issuer) || strings.HasPrefix(p.loc, s.a.URL+"/callback")
	})
	if strings.HasPrefix(p.loc, s.a.URL+"/callback") {
		if u, _ := url.Parse(p.loc); u != nil && u.Query().Get("code") != "" {
			t.Fatalf("C (allowed_providers [cj]) received a code from a session opened at barreau: %s", p.loc)
		}
		t.Fatalf("C's request ended at its callback without a login at cj: %s", p.loc)
	}
	s.cjLoginForm(t, "the bailiffs' IdP for C")
}

// authQuery is an authorization request of client for a browser driven by hand
// (PKCE S256 with a throwaway verifier: the code is never redeemed).
func authQuery(client, redirectURI, uiLocales string) string {
	q := url.Values{"client_id": {client}, "response_type": {"code"}, "scope": {"openid profile profession"},
		"redirect_uri": {redirectURI}, "state": {random()}, "nonce": {random()},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	if uiLocales != "" {
		q.Set("ui_locales", uiLocales)
	}
	return q.Encode()
}

// TestSAMLIdPDownInBrowser: with the bar's SimpleSAMLphp stopped, the chooser
// must not send a lawyer to a dead address: the provider is marked unavailable,
// or choosing it ends on a French page of the broker, not on the browser's own
// connection error.
func TestSAMLIdPDownInBrowser(t *testing.T) {
	s := startStack(t, stackOptions{upstreams: true})
	b := s.browser
	s.ssp.Process.Stop()

	b.Open(s.a.URL + "/login")
	page := expect(t, b, "chooser with the bar's IdP down", chooserTitle, labelBarreau)
	n, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll('input[name=provider][value=barreau]').length`))
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		if !strings.Contains(strings.ToLower(page), unavailable) {
			t.Errorf("the bar's IdP is hidden but not marked unavailable:\n%s", page)
		}
		b.Screenshot("chooser-saml-down")
		return
	}
	// Still offered: choosing it must end on a page that says what happened.
	if _, err := chromedp.RunResponse(b.Ctx, chromedp.Click(chromedp.CSS(`form:has(input[name=provider][value=barreau]) button[type=submit]`), chromedp.NodeVisible)); err != nil {
		t.Logf("choosing the bar's IdP: %v", err)
	}
	p := waitFor(t, b, "after choosing the stopped bar's IdP", func(p pageState) bool { return p.text != "" || strings.HasPrefix(p.loc, "chrome-error:") })
	b.Screenshot("saml-idp-down-chosen")
	if !strings.HasPrefix(p.loc, s.issuer) {
		t.Errorf("choosing the stopped SAML IdP left the broker for %s:\n%s", p.loc, p.text)
	} else if !strings.Contains(p.text, "momentanément indisponible") {
		t.Errorf("after choosing the stopped IdP the broker shows:\n%s", p.text)
	}
}
