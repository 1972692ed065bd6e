package browser

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// expect fails the test unless the page shows every text; it returns the text.
// Case is ignored: innerText follows CSS text-transform (DSFR badges are upper case).
func expect(t *testing.T, b *peer.Browser, what string, texts ...string) string {
	t.Helper()
	got := b.Text()
	for _, s := range texts {
		if !strings.Contains(strings.ToLower(got), strings.ToLower(s)) {
			t.Fatalf("%s: the page at %s does not show %q; it shows:\n%s", what, b.Location(), s, got)
		}
	}
	return got
}

// expectStyled fails the test unless the DSFR stylesheet applied: the header's
// logo block and the main button get their DSFR look (a broken CSS link or a CSP
// that blocks it leaves browser defaults).
func expectStyled(t *testing.T, b *peer.Browser) {
	t.Helper()
	type look struct {
		Sheets     int    `json:"sheets"`
		Rules      int    `json:"rules"`
		Font       string `json:"font"`
		ButtonBg   string `json:"buttonBg"`
		HasButtons bool   `json:"hasButtons"`
	}
	l, err := chromedp.Run(b.Ctx, chromedp.Evaluate[look](`(() => {
  let rules = 0;
  for (const s of document.styleSheets) { try { rules += s.cssRules.length } catch (e) {} }
  const btn = document.querySelector('.fr-btn');
  return {sheets: document.styleSheets.length, rules,
    font: getComputedStyle(document.body).fontFamily,
    buttonBg: btn ? getComputedStyle(btn).backgroundColor : '', hasButtons: !!btn};
})()`))
	if err != nil {
		t.Fatalf("style check: %v", err)
	}
	if l.Sheets == 0 || l.Rules < 100 || !strings.Contains(strings.ToLower(l.Font), "marianne") {
		t.Errorf("the DSFR stylesheet did not apply at %s: %+v", b.Location(), l)
	}
	// DSFR primary buttons are "bleu France" #000091 = rgb(0, 0, 145).
	if l.HasButtons && l.ButtonBg != "rgb(0, 0, 145)" && l.ButtonBg != "rgba(0, 0, 0, 0)" {
		t.Errorf("button colour %q at %s", l.ButtonBg, b.Location())
	}
}

// visitedPaths lists the paths of the documents requested on host since the last
// ForgetVisited.
func visitedPaths(b *peer.Browser, base string) []string {
	var out []string
	for _, v := range b.Visited() {
		if strings.HasPrefix(v, base) {
			u, _ := url.Parse(v)
			out = append(out, u.Path)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// loginWithPassword goes from the chooser to the claims page with the mouse:
// choose the directory, fill in the form, submit. It saves screenshots of both
// broker pages when shots is true.
func (s *stack) loginWithPassword(t *testing.T, clientName string, shots bool) {
	t.Helper()
	b := s.browser
	expect(t, b, "chooser", chooserTitle, labelAnnuaire, labelDev, clientName)
	expectStyled(t, b)
	if shots {
		b.Screenshot("chooser")
	}
	b.Submit("choose the directory", chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[type=submit]`)), chromedp.NodeVisible))
	expect(t, b, "password form", loginTitle, "Identifiant", labelAnnuaire)
	expectStyled(t, b)
	if shots {
		b.Screenshot("password-form")
	}
	if err := chromedp.Do(b.Ctx,
		chromedp.SendKeys(chromedp.ID("username"), clerkUID),
		chromedp.SendKeys(chromedp.ID("password"), clerkPassword),
	); err != nil {
		t.Fatalf("fill in the form: %v", err)
	}
	b.Submit("log in", chromedp.Click(chromedp.CSS(`form button[type=submit]`), chromedp.NodeVisible))
}

// TestSSOFromGoRPToApache: a clerk logs in with a password at A (Go RP), then
// opens B (mod_auth_openidc) and arrives without any broker page; both RPs got
// the clerk's justice claims, and the same subject.
func TestSSOFromGoRPToApache(t *testing.T) {
	s := startStack(t, stackOptions{})
	b := s.browser
	b.Open(s.a.URL + "/login")
	s.loginWithPassword(t, "Application du ministère (A)", true)
	expect(t, b, "A after login", "Connecté", "greffier", clerkCourt)
	b.Screenshot("rp-a-claims")
	a := s.a.Last()
	if a == nil {
		t.Fatalf("A has no session; errors: %v", s.a.Errors())
	}
	if a.Info["profession"] != "greffier" || a.Claims["acr"] == nil || a.Claims["sid"] == nil {
		t.Fatalf("A's claims: ID token %v, userinfo %v", a.Claims, a.Info)
	}
	if got := fmt.Sprint(a.Info["justice_roles"]); !strings.Contains(got, "greffier@"+clerkCourt) {
		t.Fatalf("A's justice_roles %s", got)
	}

	b.ForgetVisited()
	b.Open(s.b.URL + peer.ApacheClaimsPath)
	expect(t, b, "B after SSO", "Plateforme partenaire : connecté", "greffier", clerkCourt, "Paul", "Martin")
	b.Screenshot("rp-b-claims-sso")
	brokerPages := visitedPaths(b, s.issuer)
	if !contains(brokerPages, "/authorize") || contains(brokerPages, "/login") {
		t.Fatalf("B's login went through broker pages %v; want /authorize only (SSO)", brokerPages)
	}
	reqs := s.b.Requests()
	if len(reqs) == 0 {
		t.Fatal("B's application received no request")
	}
	c := reqs[len(reqs)-1].Claims
	for name, want := range map[string]string{
		"profession": "greffier", "given_name": "Paul", "family_name": "Martin", "jurisdictions": clerkCourt,
		"justice_roles": "greffier@" + clerkCourt, "iss": s.issuer, "aud": apacheID, "sub": fmt.Sprint(a.Claims["sub"]),
		"organization": "Ministère de la Justice",
	} {
		if c[name] != want {
			t.Errorf("B's claim %s = %q, want %q", name, c[name], want)
		}
	}
}

// TestKeyboardOnlyLogin: the chooser, the password form and the logout
// confirmation work with the keyboard alone (Tab, typing, Enter): no mouse event is
// ever sent. Focus lands where a keyboard user expects it.
func TestKeyboardOnlyLogin(t *testing.T) {
	s := startStack(t, stackOptions{})
	b := s.browser
	b.Open(s.a.URL + "/login")
	expect(t, b, "chooser", chooserTitle, labelAnnuaire)
	active := func() string {
		t.Helper()
		v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`(() => { const e = document.activeElement; return e ? (e.id || e.textContent.trim() || e.tagName) : '' })()`))
		if err != nil {
			t.Fatalf("active element: %v", err)
		}
		return v
	}
	// tabTo presses Tab until the focused element is want; the number of presses
	// is bounded so that a focus trap or an unreachable control fails.
	tabTo := func(want string, max int) int {
		t.Helper()
		var seen []string
		for i := 1; i <= max; i++ {
			if err := chromedp.Do(b.Ctx, chromedp.KeyEvent("\t")); err != nil {
				t.Fatal(err)
			}
			a := active()
			seen = append(seen, a)
			if a == want {
				return i
			}
		}
		t.Fatalf("%q not reached with %d Tab presses; focus went through %q", want, max, seen)
		return 0
	}
	n := tabTo(labelAnnuaire, 6)
	t.Logf("chooser: %d Tab presses to %q", n, labelAnnuaire)
	b.Submit("Enter on the chooser", chromedp.KeyEvent("\r"))
	expect(t, b, "password form", loginTitle, labelAnnuaire)
	if a := active(); a != "username" {
		t.Fatalf("focus on the password form is %q, want the username field (autofocus)", a)
	}
	if err := chromedp.Do(b.Ctx, chromedp.KeyEvent(clerkUID)); err != nil {
		t.Fatal(err)
	}
	tabTo("password", 1)
	if err := chromedp.Do(b.Ctx, chromedp.KeyEvent("wrong-password")); err != nil {
		t.Fatal(err)
	}
	b.Submit("Enter on the password form", chromedp.KeyEvent("\r"))
	// A wrong password: the error is announced and focus is back on the password.
	expect(t, b, "wrong password", "Identifiant ou mot de passe incorrect")
	b.Screenshot("password-form-error")
	if a := active(); a != "password" {
		t.Fatalf("after a wrong password the focus is %q, want the password field", a)
	}
	if err := chromedp.Do(b.Ctx, chromedp.KeyEvent(clerkPassword)); err != nil {
		t.Fatal(err)
	}
	b.Submit("Enter with the right password", chromedp.KeyEvent("\r"))
	expect(t, b, "A after a keyboard login", "Connecté", "greffier")
	if a := s.a.Last(); a == nil || a.Info["profession"] != "greffier" {
		t.Fatalf("A's session %+v, errors %v", a, s.a.Errors())
	}

	// Logout at the broker without an id_token_hint asks to confirm (RP-Initiated
	// Logout §2); the keyboard confirms.
	b.Open(s.issuer + "/session/end")
	expect(t, b, "logout confirmation", logoutConfirm, "Se déconnecter", "Annuler")
	expectStyled(t, b)
	b.Screenshot("logout-confirm")
	tabTo("Se déconnecter", 6)
	b.Submit("Enter on Se déconnecter", chromedp.KeyEvent("\r"))
	expect(t, b, "logged out", loggedOut)
	expectStyled(t, b)
	b.Screenshot("logged-out")
	// The SSO session is gone: A must show the chooser again.
	b.Open(s.a.URL + "/login")
	expect(t, b, "after logout", chooserTitle)
}

// TestPartnerConsent: B is a partner platform: the first login asks the person to
// agree to share the listed claims; once agreed, the claims reach B. After a
// logout through mod_auth_openidc (RP-initiated, with its id_token_hint), a second
// login asks for the password again but not for consent.
func TestPartnerConsent(t *testing.T) {
	s := startStack(t, stackOptions{apacheKind: "partner"})
	b := s.browser
	b.Open(s.b.URL + peer.ApacheClaimsPath)
	s.loginWithPassword(t, "Plateforme partenaire (B)", false)
	page := expect(t, b, "consent", consentTitle, "Médiation Exemple", "Autoriser", "Refuser")
	for _, item := range []string{"profession", "juridiction"} {
		if !strings.Contains(strings.ToLower(page), item) {
			t.Errorf("the consent page does not list %q:\n%s", item, page)
		}
	}
	expectStyled(t, b)
	b.Screenshot("consent")
	if n := len(s.b.Requests()); n != 0 {
		t.Fatalf("B's application was reached before consent (%d requests)", n)
	}
	b.Submit("Autoriser", chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`), chromedp.NodeVisible))
	expect(t, b, "B after consent", "Plateforme partenaire : connecté", "greffier", clerkCourt)
	b.Screenshot("rp-b-claims-after-consent")
	first := s.b.Requests()[len(s.b.Requests())-1].Claims
	if first["profession"] != "greffier" || first["justice_roles"] != "greffier@"+clerkCourt {
		t.Fatalf("B's claims after consent: %v", first)
	}

	// Logout at B: mod_auth_openidc ends its session and sends the browser to the
	// broker's end_session_endpoint with id_token_hint, which returns to B.
	b.ForgetVisited()
	b.Open(s.b.LogoutURL())
	expect(t, b, "B logged out", "Vous êtes déconnecté de la plateforme partenaire")
	if p := visitedPaths(b, s.issuer); !contains(p, "/session/end") {
		t.Fatalf("mod_auth_openidc's logout did not reach the broker: %v", b.Visited())
	}

	b.ForgetVisited()
	b.Open(s.b.URL + peer.ApacheClaimsPath)
	s.loginWithPassword(t, "Plateforme partenaire (B)", false)
	expect(t, b, "B after the second login", "Plateforme partenaire : connecté", "greffier")
	if strings.Contains(b.Text(), consentTitle) {
		t.Fatal("consent was asked again")
	}
	for _, v := range b.Visited() {
		if strings.HasPrefix(v, s.issuer) && strings.Contains(v, "consent") {
			t.Fatalf("the second login went through %s", v)
		}
	}
	second := s.b.Requests()[len(s.b.Requests())-1].Claims
	if second["sub"] != first["sub"] || second["profession"] != "greffier" {
		t.Fatalf("second login claims %v, first %v", second, first)
	}
}

// TestLogoutAtAEndsB: with SSO, B logs in silently (prompt=none) after A; the
// clerk logs out at A (RP-initiated, id_token_hint); the broker's back-channel
// notice ends B's mod_auth_openidc session, and prompt=none at B now gets
// login_required instead of a session.
func TestLogoutAtAEndsB(t *testing.T) {
	s := startStack(t, stackOptions{})
	b := s.browser
	b.Open(s.a.URL + "/login")
	s.loginWithPassword(t, "Application du ministère (A)", false)
	expect(t, b, "A after login", "Connecté", "greffier")

	b.ForgetVisited()
	b.Open(s.b.URL + peer.ApacheSilentPath)
	expect(t, b, "B via prompt=none", "Plateforme partenaire : connecté", "greffier")
	silent := ""
	for _, v := range b.Visited() {
		if strings.HasPrefix(v, s.issuer+"/authorize?") {
			silent = v
		}
	}
	if u, _ := url.Parse(silent); u == nil || u.Query().Get("prompt") != "none" {
		t.Fatalf("B's silent login did not send prompt=none: %v", b.Visited())
	}
	nB := len(s.b.Requests())

	b.Open(s.a.URL + "/me")
	b.ForgetVisited()
	b.Submit("logout at A", chromedp.Click(chromedp.ID("logout"), chromedp.NodeVisible))
	expect(t, b, "A logged out", "Vous êtes déconnecté de l'application A", "state logout-state")
	b.Screenshot("rp-a-logged-out")
	if p := visitedPaths(b, s.issuer); !contains(p, "/session/end") {
		t.Fatalf("A's logout did not go through the broker: %v", b.Visited())
	}

	// Back-channel logout: B's session must be gone (the broker tries at once,
	// within its 2 s notify deadline, before it redirects).
	b.ForgetVisited()
	polled := s.waitApacheSessionGone(t, "logout at A")
	expect(t, b, "B after logout at A", chooserTitle)
	if len(s.b.Requests()) != nB+polled {
		t.Fatalf("B's application was reached after the logout")
	}

	// prompt=none at B: no SSO session any more, so login_required, and no claims.
	b.ForgetVisited()
	b.Open(s.b.URL + peer.ApacheSilentPath)
	var answer *url.URL
	for _, v := range b.Visited() {
		if strings.HasPrefix(v, s.b.RedirectURI+"?") {
			answer, _ = url.Parse(v)
		}
	}
	if answer == nil || answer.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none at B after logout: the broker answered %v (visited %v)", answer, b.Visited())
	}
	if got := b.Text(); strings.Contains(got, "connecté") && strings.Contains(got, "greffier") {
		t.Fatalf("B shows a session after login_required:\n%s", got)
	}
	b.Screenshot("rp-b-after-login-required")
}

// waitApacheSessionGone waits until B no longer shows a session: the broker's
// back-channel notice ended mod_auth_openidc's session. The broker tries at once,
// within its 2 s notify deadline, before it redirects; on a loaded machine that
// budget can run out before Apache answers, and the worker's retry comes 15 s
// later (logout.DefaultBackoff), hence the 30 s wait. It returns how many requests
// reached B's application while the session was still there (each poll that found
// it); the poll that found it gone reached nothing.
func (s *stack) waitApacheSessionGone(t *testing.T, after string) (polled int) {
	t.Helper()
	b := s.browser
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := len(s.b.Requests())
		b.Open(s.b.URL + peer.ApacheClaimsPath)
		if !strings.Contains(b.Text(), "Plateforme partenaire : connecté") {
			if polled > 0 {
				t.Logf("B's session ended by back-channel after %d polls that still found it", polled)
			}
			return polled
		}
		polled += len(s.b.Requests()) - n
		if time.Now().After(deadline) {
			t.Fatalf("B still shows a session after %s (back-channel logout)\n%s", after, s.b.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestErrorPage: an authorization request from an unknown client ends on the
// broker's error page (not at any redirect URI), in French, with an incident
// reference, styled.
func TestErrorPage(t *testing.T) {
	s := startStack(t, stackOptions{})
	b := s.browser
	b.Open(s.issuer + "/authorize?client_id=nobody&response_type=code&redirect_uri=" + url.QueryEscape(s.a.URL+"/callback") + "&scope=openid&state=s1234567")
	if loc := b.Location(); !strings.HasPrefix(loc, s.issuer) {
		t.Fatalf("an unknown client was redirected to %s", loc)
	}
	page := expect(t, b, "error page", "Identifiant de l'incident", "Référence pour le support")
	if !strings.Contains(page, "Demande invalide") && !strings.Contains(page, "Une erreur est survenue") {
		t.Errorf("no error title on the error page:\n%s", page)
	}
	expectStyled(t, b)
	b.Screenshot("error-unknown-client")
}
