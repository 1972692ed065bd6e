package e2e

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// Choosing a provider (issue: lawyers and bailiffs log in): the chooser offers the
// way used last on this browser first, and login_hint's e-mail domain skips it.
func TestChooser(t *testing.T) {
	u := startUpstreams(t)

	t.Run("last provider first", func(t *testing.T) {
		b := u.Browser()
		first := u.newFlow(b, harness.PartnerID).start(t, nil)
		if first.URL.Path != "/login" || strings.Contains(first.Body, "dernière connexion") {
			t.Fatalf("first visit: want the chooser without a remembered choice: %d %s", first.Status, first.URL)
		}
		if strings.Index(first.Body, `value="annuaire"`) > strings.Index(first.Body, `value="cj"`) {
			t.Fatal("the test expects the directory listed before the bailiffs' IdP by default")
		}
		u.loginCJ(t, b, harness.PartnerID, "jdupont")
		// A new flow on the same browser, asking for a fresh login.
		f := u.newFlow(b, harness.PartnerID)
		chooser := f.start(t, url.Values{"prompt": {"login"}})
		if chooser.URL.Path != "/login" {
			t.Fatalf("want the chooser, got %d at %s", chooser.Status, chooser.URL)
		}
		cj, annuaire := strings.Index(chooser.Body, `value="cj"`), strings.Index(chooser.Body, `value="annuaire"`)
		if cj < 0 || annuaire < 0 || cj > annuaire {
			t.Errorf("the bailiffs' IdP used last is not offered first (cj at %d, annuaire at %d)", cj, annuaire)
		}
		if !strings.Contains(chooser.Body, "Utilisé lors de votre dernière connexion") {
			t.Errorf("the remembered choice is not marked")
		}
	})

	t.Run("login_hint routes by e-mail domain", func(t *testing.T) {
		b := u.Browser()
		p := u.newFlow(b, harness.PartnerID).start(t, url.Values{"login_hint": {"marie.curie@Avocats-Paris.example"}})
		if p.Location == nil || !strings.HasPrefix(p.Location.String(), u.ssp.BaseURL) {
			t.Fatalf("a lawyer's e-mail did not go straight to the bar's IdP: %d %v at %s", p.Status, p.Location, p.URL)
		}
		p = u.newFlow(b, harness.PartnerID).start(t, url.Values{"login_hint": {"quelqu.un@ailleurs.example"}})
		if p.Location != nil || p.URL.Path != "/login" || p.Status != http.StatusOK {
			t.Fatalf("an unknown domain must show the chooser: %d %v at %s", p.Status, p.Location, p.URL)
		}
	})
}

// bailiffsPlatformID admits commissaires de justice and magistrats only.
const bailiffsPlatformID = "bailiffs-platform"

// Per-client population policy: a lawyer at the bailiffs' platform gets a plain
// French refusal with a way back, and the platform gets access_denied.
func TestPopulationPolicy(t *testing.T) {
	u := startUpstreams(t)

	f := u.newFlow(u.Browser(), bailiffsPlatformID)
	refusal := f.samlLogin(t, f.start(t, url.Values{"idp_hint": {"barreau"}}), "adupont", samlPassword(t, u, "adupont"))
	if refusal.Status != http.StatusForbidden || refusal.Location != nil || !strings.Contains(refusal.Body, "pas ouverte à votre profession") {
		t.Fatalf("a lawyer at the bailiffs' platform: want the 403 refusal page, got %d %v: %.1500s", refusal.Status, refusal.Location, refusal.Body)
	}
	back := regexp.MustCompile(`href="([^"]*error=access_denied[^"]*)"`).FindStringSubmatch(refusal.Body)
	if back == nil {
		t.Fatalf("the refusal page offers no way back to the application with access_denied: %.1500s", refusal.Body)
	}
	target, err := url.Parse(html.UnescapeString(back[1]))
	if err != nil || !strings.HasPrefix(target.String(), harness.RedirectURI+"?") || target.Query().Get("state") == "" ||
		target.Query().Get("iss") != u.Issuer || target.Query().Get("code") != "" {
		t.Errorf("way back %v: want the registered redirect URI with access_denied, state and iss, no code", target)
	}

	// A commissaire de justice and a magistrat are admitted.
	claims, _ := u.loginCJ(t, u.Browser(), bailiffsPlatformID, "jdupont")
	wantClaim(t, claims, "profession", "commissaire_de_justice")
	claims, _ = u.loginLDAP(t, u.Browser(), bailiffsPlatformID, "jdupont")
	wantClaim(t, claims, "profession", "magistrat")
}
