package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// Logging out of the broker ends the upstream session too (RP-initiated logout
// toward the bailiffs' OIDC provider, SP-initiated single logout toward the bar's
// SAML IdP), then returns to the application with its state; afterwards neither
// the broker nor the upstream logs the person in silently.
func TestLogoutAtUpstreams(t *testing.T) {
	u := startUpstreams(t)

	cases := []struct {
		name, provider string
		login          func(t *testing.T, b *http.Client) *flow
		// upstreamPage answers the upstream's logout page, if it shows one, and
		// returns the next URL.
		upstreamPage func(t *testing.T, b *http.Client, p *page) string
		// silent tells whether the upstream's answer to a new authentication request
		// logs the person in without asking.
		silent func(p *page) bool
	}{
		{name: "oidc", provider: "cj",
			login: func(t *testing.T, b *http.Client) *flow {
				_, f := u.loginCJ(t, b, harness.MinistryID, "jdupont")
				return f
			},
			upstreamPage: func(t *testing.T, b *http.Client, p *page) string {
				// oidc-provider asks for confirmation (RP-Initiated Logout §3).
				for _, fm := range forms(p.Body) {
					fm.Fields.Set("logout", "yes")
					next := do(t, b, http.MethodPost, abs(p, fm.Action), fm.Fields)
					if next.Location == nil {
						t.Fatalf("oidc-provider logout confirmation: %d %.800s", next.Status, next.Body)
					}
					return next.Location.String()
				}
				t.Fatalf("oidc-provider shows no logout form: %.800s", p.Body)
				return ""
			},
			silent: func(p *page) bool {
				return p.Location != nil && strings.HasPrefix(p.Location.String(), u.Issuer+"/login/callback/")
			},
		},
		{name: "saml", provider: "barreau",
			login: func(t *testing.T, b *http.Client) *flow {
				_, f := u.loginSAML(t, b, harness.MinistryID, "adupont")
				return f
			},
			silent: func(p *page) bool { return strings.Contains(p.Body, `name="SAMLResponse"`) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := u.Browser()
			f := tc.login(t, b)
			end := u.Issuer + "/session/end?" + url.Values{"id_token_hint": {f.Tokens.IDToken},
				"post_logout_redirect_uri": {harness.PostLogoutURI}, "state": {"etat-42"}}.Encode()
			p := do(t, b, http.MethodGet, end, nil)
			// Through the upstream and back to the broker, then to the application.
			for range 12 {
				if p.Location != nil && strings.HasPrefix(p.Location.String(), harness.PostLogoutURI) {
					break
				}
				switch {
				case p.Location != nil:
					p = do(t, b, http.MethodGet, p.Location.String(), nil)
				case p.Status == http.StatusOK && tc.upstreamPage != nil && !strings.HasPrefix(p.URL.String(), u.Issuer):
					p = do(t, b, http.MethodGet, tc.upstreamPage(t, b, p), nil)
				default:
					t.Fatalf("logout stopped at %s: %d %.1500s", p.URL, p.Status, p.Body)
				}
			}
			if p.Location == nil || !strings.HasPrefix(p.Location.String(), harness.PostLogoutURI) || p.Location.Query().Get("state") != "etat-42" {
				t.Fatalf("logout did not return to the application with its state: %v", p.Location)
			}
			// prompt=none: the broker's session is gone (E9).
			none := u.newFlow(b, harness.MinistryID).start(t, url.Values{"prompt": {"none"}})
			if none.Location == nil || none.Location.Query().Get("error") != "login_required" {
				t.Errorf("prompt=none after logout: %v", none.Location)
			}
			// The upstream asks for the password again instead of logging in silently.
			toIdP := u.newFlow(b, harness.MinistryID).start(t, url.Values{"idp_hint": {tc.provider}})
			if toIdP.Location == nil {
				t.Fatalf("no redirect to the upstream: %d", toIdP.Status)
			}
			at := last(walk(t, b, http.MethodGet, toIdP.Location.String(), nil))
			if tc.silent(at) {
				t.Errorf("the upstream logged the person in again without asking: its session survived the logout")
			}
		})
	}
}

// OIDC Back-Channel Logout §2.7 (SECURITY.md E11, valid case): the bailiff logs out
// at the chamber's IdP itself; oidc-provider posts a logout token to the broker,
// which ends the broker session, so the next prompt=none at the broker answers
// login_required instead of logging the person back in, and sends its own logout
// token to each application of that session that registered a back-channel URI.
func TestUpstreamBackchannelLogout(t *testing.T) {
	notices := make(chan url.Values, 4)
	app := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil && r.Method == http.MethodPost && r.URL.Path == "/bcl" {
			select {
			case notices <- r.PostForm:
			default:
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(app.Close)
	const bclApp = "application-bcl"
	u := startUpstreams(t, func(s *upstreamSetup) {
		s.logoutHTTPClient = app.Client()
		s.clients = func(string) string {
			return fmt.Sprintf(`  - client_id: %s
    name: "Application avec déconnexion back-channel"
    kind: first_party
    secret: {file: %q}
    redirect_uris: [%q]
    scopes: [openid, profile, email, uid, idp_id, profession, jurisdictions, justice_roles]
    backchannel_logout_uri: %q
`, bclApp, writeSecret(t, harness.PartnerSecret), harness.RedirectURI, app.URL+"/bcl")
		}
	})
	b := u.Browser()
	_, login := u.loginCJ(t, b, harness.MinistryID, "jdupont")
	if p := u.newFlow(b, harness.MinistryID).start(t, url.Values{"prompt": {"none"}}); p.Location == nil || p.Location.Query().Get("code") == "" {
		t.Fatalf("the broker session does not work before the upstream logout: %v", p.Location)
	}
	// The session keeps the IdP's subject and session ID, by which the logout
	// token finds it (an index, not a read of every session of the provider).
	sid, _ := idTokenClaims(t, login.Tokens.IDToken)["sid"].(string)
	ss, err := u.Broker.Store.GetSSOSession(context.Background(), sid)
	if err != nil {
		t.Fatalf("broker session %q (the ID token's sid): %v", sid, err)
	}
	if ss.UpstreamSubject != "cj-75-0042" || ss.UpstreamSessionID == "" {
		t.Fatalf("broker session %q: upstream subject %q, session %q; want cj-75-0042 and the IdP's sid", sid, ss.UpstreamSubject, ss.UpstreamSessionID)
	}
	// The application joins the session: the broker records it among the
	// session's clients, which it notifies when the session ends.
	if p := u.newFlow(b, bclApp).start(t, url.Values{"prompt": {"none"}}); p.Location == nil || p.Location.Query().Get("code") == "" {
		t.Fatalf("SSO at %s: %v", bclApp, p.Location)
	}

	// Log out at the IdP: its end_session page asks for confirmation.
	confirm := do(t, b, http.MethodGet, u.cj.Issuer+"/session/end", nil)
	fs := forms(confirm.Body)
	if confirm.Status != http.StatusOK || len(fs) == 0 {
		t.Fatalf("oidc-provider end_session: %d %.800s", confirm.Status, confirm.Body)
	}
	fs[0].Fields.Set("logout", "yes")
	if done := do(t, b, http.MethodPost, abs(confirm, fs[0].Action), fs[0].Fields); done.Status >= 400 {
		t.Fatalf("oidc-provider logout: %d %.800s", done.Status, done.Body)
	}

	// The IdP's back-channel call may land just after its answer to the browser.
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := u.newFlow(b, harness.MinistryID).start(t, url.Values{"prompt": {"none"}})
		if p.Location != nil && p.Location.Query().Get("error") == "login_required" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after logging out at the IdP, the broker still logs the person in: %v", p.Location)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The broker tries the application at once, within its 2 s notify budget; on a
	// loaded machine that budget can run out, and the worker's retry comes 15 s
	// later (logout.DefaultBackoff): hence 30 s.
	select {
	case form := <-notices:
		claims := idTokenClaims(t, form.Get("logout_token")) // a JWT like the ID token
		events, _ := claims["events"].(map[string]any)
		if _, ok := events["http://schemas.openid.net/event/backchannel-logout"]; !ok || claims["aud"] == nil || claims["sid"] == nil {
			t.Errorf("the application's logout token lacks the back-channel event, aud or sid: %v", claims)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the application of the session got no back-channel logout notice after the upstream logout")
	}
}
