package browser

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// Issue #6: every page people see, in French and in English, styled and saved
// as a screenshot artifact; consent given, withdrawn on /compte, asked again.

// shot checks that the page is styled and shows texts, then saves it.
func shot(t *testing.T, b *peer.Browser, name string, texts ...string) string {
	t.Helper()
	page := expect(t, b, name, texts...)
	expectStyled(t, b)
	b.Screenshot(name)
	return page
}

// withdrawButton is the first "withdraw" button of /compte.
const withdrawButton = `form[action="/compte/retirer"] button[type=submit]`

// TestConsentWithdrawnOnAccountPage: the clerk agrees to share with partner B;
// /compte lists B with its organisation and the data shared; withdrawing there
// empties the list, and the next login at B asks for consent again.
func TestConsentWithdrawnOnAccountPage(t *testing.T) {
	s := startStack(t, stackOptions{apacheKind: "partner"})
	b := s.browser
	b.Open(s.b.URL + peer.ApacheClaimsPath)
	s.loginWithPassword(t, "Plateforme partenaire (B)", false)
	expect(t, b, "consent", consentTitle, "Médiation Exemple")
	b.Submit("Autoriser", chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`), chromedp.NodeVisible))
	expect(t, b, "B after consent", "Plateforme partenaire : connecté", "greffier")

	b.Open(s.issuer + "/compte")
	page := shot(t, b, "account-with-consent", "Mon compte JusticeConnect", "Paul Martin", "Applications autorisées",
		"Plateforme partenaire (B)", "Médiation Exemple", "Vos nom et prénom", "Votre profession", "Retirer mon accord")
	if strings.Contains(page, "Application du ministère (A)") {
		t.Errorf("/compte lists first-party A, which never asks consent:\n%s", page)
	}
	b.Submit("Retirer mon accord", chromedp.Click(chromedp.CSS(withdrawButton), chromedp.NodeVisible))
	if loc := b.Location(); !strings.HasPrefix(loc, s.issuer+"/compte?") {
		t.Fatalf("after the withdrawal the browser is at %s", loc)
	}
	page = shot(t, b, "account-consent-withdrawn", "Votre accord a été retiré", "Vous n’avez donné votre accord à aucune application")
	if strings.Contains(page, "Plateforme partenaire (B)") {
		t.Fatalf("B is still listed after the withdrawal:\n%s", page)
	}

	// B still has its own mod_auth_openidc session: log out there (which ends the
	// broker session too), then log in again: consent is asked again.
	b.Open(s.b.LogoutURL())
	expect(t, b, "B logged out", "Vous êtes déconnecté de la plateforme partenaire")
	b.Open(s.b.URL + peer.ApacheClaimsPath)
	s.loginWithPassword(t, "Plateforme partenaire (B)", false)
	shot(t, b, "consent-asked-again", consentTitle, "Médiation Exemple", "Autoriser", "Refuser")
	b.Submit("Autoriser", chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`), chromedp.NodeVisible))
	expect(t, b, "B after the second consent", "Plateforme partenaire : connecté", "greffier")
	b.Open(s.issuer + "/compte")
	expect(t, b, "/compte after the second consent", "Plateforme partenaire (B)", "Retirer mon accord")
}

// TestPagesInFrench: a screenshot of every page a person meets without logging
// in, with what it must say: about page, partner kit, /compte without a session,
// errors (expired login request, unknown page, unknown client).
func TestPagesInFrench(t *testing.T) {
	s := startStack(t, stackOptions{apacheKind: "partner"})
	b := s.browser

	b.Open(s.issuer + "/a-propos")
	shot(t, b, "about", "Qu’est-ce que JusticeConnect ?", "Pour qui ?", "Kit partenaire")
	b.Open(s.issuer + "/partner-kit/")
	shot(t, b, "partner-kit", "Kit partenaire", "S’identifier avec", "JusticeConnect")
	b.Open(s.issuer + "/compte")
	shot(t, b, "account-logged-out", "Vous n’êtes pas connecté", "Qu’est-ce que JusticeConnect ?")
	b.Open(s.issuer + "/login?flow=inconnu")
	shot(t, b, "error-flow-expired", "Votre demande de connexion a expiré", "Identifiant de l'incident")
	b.Open(s.issuer + "/page-qui-n-existe-pas")
	shot(t, b, "error-not-found", "Page introuvable", "Identifiant de l'incident")
	b.Open(s.issuer + "/authorize?" + authQuery("inconnu", s.a.URL+"/callback", ""))
	shot(t, b, "error-unknown-client", "Identifiant de l'incident")
}

// TestLoginPagesInFrench: the pages of a login and a logout: chooser, password
// form and its error, consent, /compte with a consent, profession refused,
// logout confirmation, its cancellation, and the "vous êtes déconnecté" page.
func TestLoginPagesInFrench(t *testing.T) {
	s := startStack(t, stackOptions{apacheKind: "partner"})
	b := s.browser

	b.Open(s.a.URL + "/login")
	shot(t, b, "chooser", chooserTitle, labelAnnuaire, "Application du ministère (A)")
	b.Submit("choose the directory", chromedp.Click(chromedp.CSS(`form:has(input[name=provider][value=annuaire]) button[type=submit]`), chromedp.NodeVisible))
	shot(t, b, "password-form", loginTitle, "Identifiant", "Mot de passe", labelAnnuaire)
	fill(t, b, "wrong password", [][2]string{{"#username", clerkUID}, {"#password", "pas-le-bon"}}, `form button[type=submit]`)
	shot(t, b, "password-form-error", "Identifiant ou mot de passe incorrect")
	fill(t, b, "right password", [][2]string{{"#username", clerkUID}, {"#password", clerkPassword}}, `form button[type=submit]`)
	expect(t, b, "A after login", "Connecté", "greffier")

	b.Open(s.b.URL + peer.ApacheClaimsPath)
	shot(t, b, "consent", consentTitle, "Médiation Exemple", "Plateforme partenaire (B)", "Autoriser", "Refuser")
	b.Submit("Autoriser", chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`), chromedp.NodeVisible))
	expect(t, b, "B after consent", "Plateforme partenaire : connecté")
	b.Open(s.issuer + "/compte")
	shot(t, b, "account", "Mon compte JusticeConnect", "Plateforme partenaire (B)", "Retirer mon accord")

	// D admits bailiffs and judges only; the clerk's session is refused there.
	b.Open(s.issuer + "/authorize?" + authQuery(bailiffsOnlyID, s.a.URL+"/callback", ""))
	shot(t, b, "error-profession-refused", "Cette application n'est pas ouverte à votre profession", "Identifiant de l'incident")

	b.Open(s.issuer + "/session/end")
	shot(t, b, "logout-confirm", logoutConfirm, "Se déconnecter", "Annuler")
	b.Submit("Annuler", chromedp.Click(chromedp.CSS(`button[name=decision][value=cancel]`), chromedp.NodeVisible))
	shot(t, b, "logout-cancelled", "Vous êtes toujours connecté")
	b.Open(s.issuer + "/session/end")
	b.Submit("Se déconnecter", chromedp.Click(chromedp.CSS(`button[name=decision][value=logout]`), chromedp.NodeVisible))
	shot(t, b, "logged-out", loggedOut)
	b.Open(s.issuer + "/compte")
	expect(t, b, "/compte after logout", "Vous n’êtes pas connecté")
}

// TestPagesInEnglish: the same pages with ui_locales=en (OIDC Core §3.1.2.1;
// RP-Initiated Logout §2 for the logout pages) or ?lang=en for the about page.
func TestPagesInEnglish(t *testing.T) {
	s := startStack(t, stackOptions{apacheKind: "partner"})
	b := s.browser

	b.Open(s.issuer + "/a-propos?lang=en")
	shot(t, b, "about-en", "What is JusticeConnect?", "Who is it for?")
	b.Open(s.issuer + "/compte?ui_locales=en")
	shot(t, b, "account-logged-out-en", "You are not logged in")
	b.Open(s.issuer + "/authorize?" + authQuery("inconnu", s.a.URL+"/callback", "en"))
	shot(t, b, "error-unknown-client-en", "Incident reference")

	b.Open(s.a.URL + "/login?ui_locales=en")
	shot(t, b, "chooser-en", "Choose how to log in", "to access", labelAnnuaire)
	b.Submit("choose the directory", chromedp.Click(chromedp.CSS(`form:has(input[name=provider][value=annuaire]) button[type=submit]`), chromedp.NodeVisible))
	shot(t, b, "password-form-en", "Log in", "Username", "Password")
	fill(t, b, "wrong password", [][2]string{{"#username", clerkUID}, {"#password", "not-the-one"}}, `form button[type=submit]`)
	shot(t, b, "password-form-error-en", "Wrong username or password.")
	fill(t, b, "right password", [][2]string{{"#username", clerkUID}, {"#password", clerkPassword}}, `form button[type=submit]`)
	expect(t, b, "A after login", "Connecté", "greffier")

	// B's consent page, asked in English (prompt=consent is not needed: the
	// clerk never agreed). The answer is not sent: the request is not B's own.
	b.Open(s.issuer + "/authorize?" + authQuery(apacheID, s.b.RedirectURI, "en"))
	page := shot(t, b, "consent-en", "Sharing your information", "Médiation Exemple", "Allow", "Deny")
	if strings.Contains(page, "Vos nom et prénom") || !strings.Contains(page, "Your first and last names") {
		t.Errorf("the English consent page does not list the shared data in English:\n%s", page)
	}
	b.Open(s.issuer + "/authorize?" + authQuery(bailiffsOnlyID, s.a.URL+"/callback", "en"))
	shot(t, b, "error-profession-refused-en", "This application is not open to your profession", "Incident reference")
	b.Open(s.issuer + "/compte?ui_locales=en")
	shot(t, b, "account-en", "My JusticeConnect account", "You have not allowed any application")

	b.Open(s.issuer + "/session/end?ui_locales=en")
	shot(t, b, "logout-confirm-en", "Do you want to log out of JusticeConnect?", "Log out", "Cancel")
	b.Submit("Log out", chromedp.Click(chromedp.CSS(`button[name=decision][value=logout]`), chromedp.NodeVisible))
	// The confirmation form carries ui_locales to the page after it.
	shot(t, b, "logged-out-en", "You are logged out")
}

// TestCardPageWithoutCard: the agent chooses "Carte agent" without a card in
// the reader: the card origin (its own TLS listener asking for a client
// certificate) gets none and shows its French page, styled, with a way back to
// the chooser; in English with ui_locales=en.
func TestCardPageWithoutCard(t *testing.T) {
	s := startStack(t, stackOptions{card: true})
	b := s.browser
	for _, tc := range []struct{ lang, title, missing, retry, chooser string }{
		{"", "Connexion par carte agent", "Aucune carte agent n'a été présentée", "Réessayer", chooserTitle},
		{"en", "Agent card login", "No agent card was presented", "Try again", "Choose how to log in"},
	} {
		q := ""
		if tc.lang != "" {
			q = "?ui_locales=" + tc.lang
		}
		b.Open(s.a.URL + "/login" + q)
		expect(t, b, "chooser", tc.chooser, labelCard, labelAnnuaire)
		choose(t, b, "carte")
		p := at(t, b, "the card origin without a card", s.card.URL+"/card/login", tc.title, tc.missing, tc.retry)
		if strings.Contains(p.text, "Identifiant de l'incident") == (tc.lang == "en") {
			t.Errorf("the card page's incident line is not in the page's language:\n%s", p.text)
		}
		shot(t, b, "card-missing"+map[string]string{"": "", "en": "-en"}[tc.lang])
		b.Submit(tc.retry, chromedp.Click(chromedp.CSS(`a.fr-btn`), chromedp.NodeVisible))
		at(t, b, "back at the chooser", s.issuer+"/login?", tc.chooser, labelCard)
	}
}

// TestWithoutJavaScript: with scripts disabled in Chromium (issue #6: pages work
// without JavaScript), a lawyer logs in at A through the bar's IdP (its response
// page then needs one press on its button), consents at partner B after SSO,
// withdraws on /compte, and logs out at A through the IdP's single logout.
func TestWithoutJavaScript(t *testing.T) {
	s := startStack(t, stackOptions{upstreams: true, apacheKind: "partner"})
	b := s.browser
	if _, err := chromedp.Call(b.Ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disable scripts: %v", err)
	}
	b.Open(s.a.URL + "/login")
	expect(t, b, "chooser", chooserTitle, labelBarreau)
	choose(t, b, "barreau")
	s.sspLoginForm(t, "SimpleSAMLphp without JavaScript")
	s.sspSubmit(t, "adupont", peer.DefaultSAMLUsers()[0].Password)
	// SimpleSAMLphp's response page: without scripts the person presses its button.
	p := at(t, b, "SimpleSAMLphp's response page", s.ssp.BaseURL, "JavaScript")
	b.Screenshot("saml-idp-post-noscript")
	if strings.HasPrefix(p.loc, s.a.URL) {
		t.Fatal("the response was posted without a press: scripts ran")
	}
	// Its <noscript> button (the scripted one is display:none).
	b.Submit("press the IdP's button", chromedp.Click(chromedp.CSS(`form button[type=submit]`), chromedp.NodeVisible))
	at(t, b, "A after the lawyer's login", s.a.URL+"/me", "Connecté", "avocat", "Paris")

	b.Open(s.b.URL + peer.ApacheClaimsPath)
	shot(t, b, "consent-noscript", consentTitle, "Médiation Exemple")
	b.Submit("Autoriser", chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`), chromedp.NodeVisible))
	expect(t, b, "B after consent", "Plateforme partenaire : connecté", "avocat")
	b.Open(s.issuer + "/compte")
	shot(t, b, "account-noscript", "Plateforme partenaire (B)", "Retirer mon accord")
	b.Submit("Retirer mon accord", chromedp.Click(chromedp.CSS(withdrawButton), chromedp.NodeVisible))
	expect(t, b, "/compte after withdrawal", "Votre accord a été retiré")

	b.Open(s.a.URL + "/me")
	b.ForgetVisited()
	b.Submit("logout at A", chromedp.Click(chromedp.ID("logout"), chromedp.NodeVisible))
	at(t, b, "A after logout", s.a.URL+"/logged-out", "Vous êtes déconnecté de l'application A")
	if !contains(visitedPaths(b, s.ssp.BaseURL), "/saml2/idp/SingleLogoutService.php") {
		t.Errorf("logout did not reach the IdP's single logout: %v", b.Visited())
	}
	s.noBrokerSession(t, "after logout")
}
