package saml

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/providers"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// login runs Begin, the browser round trip at SimpleSAMLphp and Complete.
func (s *sspSetup) login(t *testing.T, state, username, password string) (providers.Identity, url.Values, providers.Step, error) {
	t.Helper()
	step, err := s.p.Begin(context.Background(), providers.LoginRequest{CallbackURL: s.acs, State: state})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(step.RedirectURL, s.idp.SSOURL+"?") {
		t.Fatalf("Begin redirects to %s, want the IdP's SSO service", step.RedirectURL)
	}
	form, action, page := browserLogin(t, step, username, password)
	if form.Get("SAMLResponse") == "" {
		return providers.Identity{}, form, step, errNoResponse{page}
	}
	if action != s.acs {
		t.Fatalf("IdP posts to %q, want the ACS %q", action, s.acs)
	}
	if form.Get("RelayState") != state {
		t.Fatalf("RelayState %q came back, want %q", form.Get("RelayState"), state)
	}
	id, err := s.p.Complete(context.Background(), acsRequest(t, s.acs, form), step.Pending)
	return id, form, step, err
}

type errNoResponse struct{ page string }

func (e errNoResponse) Error() string { return "no SAMLResponse from the IdP" }

// TestSimpleSAMLphpLogin is a full login of a lawyer at a real SimpleSAMLphp IdP.
func TestSimpleSAMLphpLogin(t *testing.T) {
	s := startSSP(t, peer.SAMLIdPOptions{SLO: true})
	id, form, step, err := s.login(t, "flow1.secret1", "adupont", "motdepasse-avocat-1")
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject == "" || id.Subject == "adupont" || strings.Contains(id.Subject, "@") {
		t.Errorf("subject %q: want the opaque persistent NameID", id.Subject)
	}
	for name, want := range map[string]string{
		"uid": "adupont", "givenName": "Anne", "sn": "Dupont", "mail": "anne.dupont@avocat-paris.example",
		"barreau": "Paris", "numeroAvocat": "P0042",
	} {
		if got := id.Attribute(name); got != want {
			t.Errorf("attribute %s = %q, want %q", name, got, want)
		}
	}
	if got := id.Attributes["eduPersonAffiliation"]; len(got) != 2 {
		t.Errorf("multi-valued attribute: %v", got)
	}
	if id.Username != "adupont" {
		t.Errorf("username %q", id.Username)
	}
	if len(id.Authn.Methods) != 1 || id.Authn.Methods[0] != "pwd" || !strings.HasPrefix(id.Authn.UpstreamACR, "urn:oasis:names:tc:SAML:2.0:ac:classes:Password") {
		t.Errorf("authn: %+v", id.Authn)
	}
	if d := time.Since(id.Authn.Time); d < -time.Minute || d > time.Minute {
		t.Errorf("authn time %v", id.Authn.Time)
	}
	var up upstream
	if err := json.Unmarshal(id.Upstream, &up); err != nil || up.NameID != id.Subject || up.SessionIndex == "" {
		t.Errorf("upstream %s (%v)", id.Upstream, err)
	}

	// The same login again gives the same subject (persistent).
	id2, _, _, err := s.login(t, "flow2.secret2", "adupont", "motdepasse-avocat-1")
	if err != nil {
		t.Fatal(err)
	}
	if id2.Subject != id.Subject {
		t.Errorf("persistent NameID changed: %q then %q", id.Subject, id2.Subject)
	}

	// G14 with the real IdP's response: the same POST again is refused.
	if _, err := s.p.Complete(context.Background(), acsRequest(t, s.acs, form), step.Pending); !errors.Is(err, providers.ErrInvalidResponse) {
		t.Fatalf("replayed SimpleSAMLphp response: %v", err)
	}

	// Single logout: a signed LogoutRequest for this NameID and SessionIndex,
	// by the HTTP-Redirect binding, to the IdP's SLO service.
	out, err := s.p.Logout(context.Background(), id, "logout.key1")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(out.RedirectURL)
	if err != nil || !strings.HasPrefix(out.RedirectURL, s.idp.SLOURL+"?") {
		t.Fatalf("logout step %+v", out)
	}
	q := u.Query()
	if q.Get("SAMLRequest") == "" || q.Get("Signature") == "" || q.Get("SigAlg") == "" || q.Get("RelayState") != "logout.key1" {
		t.Fatalf("logout query %v", q)
	}
	// SimpleSAMLphp accepts it (signature, NameID, SessionIndex) and moves on to
	// ending its session; a refused request gets an error page instead.
	resp, err := httpClientNoRedirect.Get(out.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	if resp.StatusCode != 302 || !strings.Contains(resp.Header.Get("Location"), "/idp/resumelogout.php") {
		t.Fatalf("SimpleSAMLphp did not take the LogoutRequest: %d %s %.2000s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
}

// TestSimpleSAMLphpWrongPassword: the IdP shows its form again, nothing comes back.
func TestSimpleSAMLphpWrongPassword(t *testing.T) {
	s := startSSP(t, peer.SAMLIdPOptions{})
	_, form, _, err := s.login(t, "flow1.secret1", "adupont", "wrong-password")
	var nr errNoResponse
	if !errors.As(err, &nr) {
		t.Fatalf("wrong password: %v (form %v)", err, form)
	}
	if form.Get("AuthState") == "" || !strings.Contains(nr.page, "password") {
		t.Errorf("expected the login form again: %.1000s", nr.page)
	}
}

// TestSimpleSAMLphpEncryptedAssertion: the IdP encrypts to the SP's certificate
// from its metadata; the provider decrypts.
func TestSimpleSAMLphpEncryptedAssertion(t *testing.T) {
	s := startSSP(t, peer.SAMLIdPOptions{EncryptAssertions: true})
	id, form, _, err := s.login(t, "flow1.secret1", "bmartin", "motdepasse-avocat-2")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(form.Get("SAMLResponse"))
	if !strings.Contains(string(raw), "EncryptedAssertion") || strings.Contains(string(raw), "bmartin") {
		t.Fatal("the IdP did not encrypt the assertion")
	}
	if id.Attribute("barreau") != "Lyon" || id.Username != "bmartin" {
		t.Fatalf("identity %+v", id)
	}
}

// TestSimpleSAMLphpKeyRollover: the IdP gets a new key; the metadata refresh (by
// URL, started lazily by Check) picks the new certificate up; a response signed with the old
// key is then refused and a new login works.
func TestSimpleSAMLphpKeyRollover(t *testing.T) {
	s := startSSP(t, peer.SAMLIdPOptions{})
	s.cfg.IdPMetadataFile, s.cfg.IdPMetadataURL = "", s.idp.MetadataURL
	s.cfg.MetadataRefresh = time.Second
	p, err := New(s.cfg, Options{Logger: testLogger(t), Now: s.now.Now, ReplayCache: s.replay})
	if err != nil {
		t.Fatal(err)
	}
	s.p = p
	if err := p.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	oldCert := s.idp.Certificate()

	// A response signed with the old key, not yet posted.
	step, err := p.Begin(context.Background(), providers.LoginRequest{CallbackURL: s.acs, State: "old.flow"})
	if err != nil {
		t.Fatal(err)
	}
	oldForm, _, _ := browserLogin(t, step, "adupont", "motdepasse-avocat-1")
	if oldForm.Get("SAMLResponse") == "" {
		t.Fatal("no response")
	}

	s.idp.RotateKey(t)
	s.now.Advance(2 * time.Second)
	// With a copy in hand, Check starts the due refresh in the background
	// (refreshIfDue): the new certificate arrives shortly after.
	if err := p.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		md := p.current()
		if len(md.certs) == 1 && !md.certs[0].Equal(oldCert) && md.certs[0].Equal(s.idp.Certificate()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refresh did not pick up the new IdP certificate within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := p.Complete(context.Background(), acsRequest(t, s.acs, oldForm), step.Pending); !errors.Is(err, providers.ErrInvalidResponse) {
		t.Fatalf("response signed with the old key after rollover: %v", err)
	}
	if _, _, _, err := s.login(t, "new.flow", "adupont", "motdepasse-avocat-1"); err != nil {
		t.Fatalf("login after rollover: %v", err)
	}
}
