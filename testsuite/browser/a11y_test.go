package browser

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// axeViolation is one rule axe-core found broken on a page.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// axeSource is axe-core (testsuite/node/package-lock.json), the accessibility
// rules engine used by the French administration's own audit tools.
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "node", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is not installed (%v): run testsuite/scripts/install-peers.sh", err)
	}
	return string(b)
}

// audit runs axe-core's WCAG 2.1 A and AA rules (the level RGAA 4 maps to) on
// the page the browser shows. Serious and critical violations fail the test;
// the others are logged.
func audit(t *testing.T, b *peer.Browser, axe, page string) {
	t.Helper()
	// DevTools evaluation is not subject to the page's Content-Security-Policy,
	// which forbids inline scripts: the pages stay as served.
	raw, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](axe+`;
axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
  .then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe-core at %s: %v", page, b.Location(), err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		t.Fatalf("%s: axe-core result: %v", page, err)
	}
	for _, v := range vs {
		var where []string
		for _, n := range v.Nodes {
			b, _ := json.Marshal(n.Target)
			where = append(where, string(b))
		}
		msg := v.ID + " (" + v.Impact + "): " + v.Help + " at " + strings.Join(where, ", ")
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("%s (%s): %s", page, b.Location(), msg)
		} else {
			t.Logf("%s: %s", page, msg)
		}
	}
}

// TestAccessibilityAudit (issue #6, RGAA): every page of a login with consent,
// the account page, logout, the public pages and the error pages pass axe-core's
// WCAG 2.1 AA rules with no serious or critical violation.
func TestAccessibilityAudit(t *testing.T) {
	s := startStack(t, stackOptions{apacheKind: "partner"})
	b := s.browser
	axe := axeSource(t)
	for _, p := range []struct{ name, url string }{
		{"about", s.issuer + "/a-propos"},
		{"partner-kit", s.issuer + "/partner-kit/"},
		{"account-logged-out", s.issuer + "/compte"},
		{"not-found", s.issuer + "/page-qui-n-existe-pas"},
		{"flow-expired", s.issuer + "/login?flow=inconnu"},
		{"chooser-en", s.issuer + "/authorize?" + authQuery(apacheID, s.b.RedirectURI, "en")},
	} {
		b.Open(p.url)
		audit(t, b, axe, p.name)
	}

	b.Open(s.b.URL + peer.ApacheClaimsPath)
	expect(t, b, "chooser", chooserTitle, labelAnnuaire)
	audit(t, b, axe, "chooser")
	b.Submit("choose the directory", chromedp.Click(chromedp.CSS(`button[type=submit]`), chromedp.NodeVisible))
	expect(t, b, "password form", loginTitle)
	audit(t, b, axe, "password-form")
	fill(t, b, "wrong password", [][2]string{{"#username", clerkUID}, {"#password", "pas-le-bon"}}, `form button[type=submit]`)
	audit(t, b, axe, "password-form-error")
	fill(t, b, "right password", [][2]string{{"#username", clerkUID}, {"#password", clerkPassword}}, `form button[type=submit]`)
	expect(t, b, "consent", consentTitle)
	audit(t, b, axe, "consent")
	b.Submit("Autoriser", chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`), chromedp.NodeVisible))
	expect(t, b, "B after consent", "Plateforme partenaire : connecté")

	b.Open(s.issuer + "/compte")
	expect(t, b, "account", "Plateforme partenaire (B)")
	audit(t, b, axe, "account")
	b.Open(s.issuer + "/session/end")
	expect(t, b, "logout confirmation", logoutConfirm)
	audit(t, b, axe, "logout-confirm")
	b.Submit("Se déconnecter", chromedp.Click(chromedp.CSS(`button[name=decision][value=logout]`), chromedp.NodeVisible))
	expect(t, b, "logged out", loggedOut)
	audit(t, b, axe, "logged-out")
}

// TestAccessibilityAuditUpstreamPages: the pages of the upstream providers'
// paths pass the same rules: the chooser with every provider, the page after a
// cancel at the bailiffs' IdP, and with that IdP stopped, the chooser marking it
// and the 503 page of a client that may use it alone.
func TestAccessibilityAuditUpstreamPages(t *testing.T) {
	s := startStack(t, stackOptions{upstreams: true})
	b := s.browser
	axe := axeSource(t)
	b.Open(s.a.URL + "/login")
	expect(t, b, "chooser", chooserTitle, labelBarreau, labelCJ)
	audit(t, b, axe, "chooser-all-providers")

	b.Open(s.a.URL + "/login?idp_hint=cj")
	s.cjLoginForm(t, "the bailiffs' IdP's login form")
	b.Submit("Annuler at the IdP", chromedp.Click(chromedp.CSS(`a[href$="/abort"]`), chromedp.NodeVisible))
	expect(t, b, "cancelled", "Connexion annulée")
	audit(t, b, axe, "cancelled-at-idp")

	s.cj.Stop()
	s.cjSkew.Store(int64(time.Minute)) // past the provider's discovery cache
	b.Open(s.issuer + "/authorize?" + authQuery(cjOnlyID, s.a.URL+"/callback", ""))
	expect(t, b, "only provider down", unavailable)
	audit(t, b, axe, "only-provider-down")
	b.Open(s.a.URL + "/login")
	expect(t, b, "chooser with the bailiffs' IdP down", chooserTitle, unavailable)
	audit(t, b, axe, "chooser-provider-down")
}
