package saml

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/providers"
)

func TestConfigValidate(t *testing.T) {
	good := Config{EntityID: spEntityID, IdPMetadataFile: "/etc/jc/idp.xml"}
	if p := good.Validate(); len(p) != 0 {
		t.Fatalf("valid config: %v", p)
	}
	cases := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"no entity_id", func(c *Config) { c.EntityID = "" }, "entity_id"},
		{"no metadata", func(c *Config) { c.IdPMetadataFile = "" }, "idp_metadata_file"},
		{"both metadata", func(c *Config) { c.IdPMetadataURL = "https://idp.example/md" }, "idp_metadata_url"},
		{"http metadata url", func(c *Config) { c.IdPMetadataFile, c.IdPMetadataURL = "", "http://idp.example/md" }, "idp_metadata_url"},
		{"http acs", func(c *Config) { c.ACSURL = "http://jc.example/acs" }, "acs_url"},
		{"cert without key", func(c *Config) { c.SPCertFile = "/x.crt" }, "sp_key_file"},
		{"transient without subject_attribute", func(c *Config) { c.NameIDFormat = "transient" }, "subject_attribute"},
		{"email without subject_attribute", func(c *Config) { c.NameIDFormat = NameIDEmail }, "subject_attribute"},
		{"bad format", func(c *Config) { c.NameIDFormat = "whatever" }, "name_id_format"},
		{"negative size", func(c *Config) { c.MaxResponseBytes = -1 }, "max_response_bytes"},
		{"huge size", func(c *Config) { c.MaxResponseBytes = 1 << 30 }, "max_response_bytes"},
		{"negative refresh", func(c *Config) { c.MetadataRefresh = -time.Second }, "metadata_refresh"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			p := c.Validate()
			if len(p) == 0 || !strings.HasPrefix(strings.Join(p, "|"), tc.want) && !strings.Contains(strings.Join(p, "|"), "|"+tc.want) {
				t.Fatalf("problems %v, want one about %s", p, tc.want)
			}
		})
	}
	ok := good
	ok.NameIDFormat, ok.SubjectAttribute = "transient", "numeroAvocat"
	if p := ok.Validate(); len(p) != 0 {
		t.Fatalf("transient with subject_attribute: %v", p)
	}
	if _, err := New(good, Options{}); err == nil {
		t.Fatal("New without a ReplayCache")
	}
}

func TestBegin(t *testing.T) {
	e := newEnv(t, true)
	step, reqID := e.begin(t, "flow.state")
	u, err := url.Parse(step.RedirectURL)
	if err != nil || u.Host != "idp.barreau.example" {
		t.Fatalf("redirect %q", step.RedirectURL)
	}
	q := u.Query()
	if q.Get("RelayState") != "flow.state" || q.Get("SAMLRequest") == "" || q.Get("SigAlg") == "" || q.Get("Signature") == "" {
		t.Fatalf("query %v", q)
	}
	if strings.Contains(string(step.Pending), "flow.state") {
		t.Error("pending holds the state in clear")
	}
	if !strings.HasPrefix(reqID, "id-") {
		t.Errorf("request ID %q", reqID)
	}
	if _, err := e.p.Begin(context.Background(), providers.LoginRequest{CallbackURL: e.acs, State: strings.Repeat("s", 81)}); err == nil {
		t.Error("RelayState over 80 bytes accepted (SAML Bindings §3.4.3)")
	}
	if _, err := e.p.Begin(context.Background(), providers.LoginRequest{CallbackURL: e.acs}); err == nil {
		t.Error("empty state accepted")
	}
}

func TestMetadata(t *testing.T) {
	e := newEnv(t, true)
	if _, err := e.p.Metadata(); err == nil {
		t.Fatal("metadata without acs_url")
	}
	e.cfg.ACSURL = e.acs
	p := e.newProvider(t)
	md, err := p.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	s := string(md)
	for _, want := range []string{spEntityID, e.acs, NameIDPersistent, `use="encryption"`, `use="signing"`, `AuthnRequestsSigned="true"`, `WantAssertionsSigned="true"`} {
		if !strings.Contains(s, want) {
			t.Errorf("SP metadata lacks %s:\n%s", want, s)
		}
	}
	if strings.Contains(s, "HTTP-Artifact") {
		t.Errorf("SP metadata offers the artifact binding:\n%s", s)
	}
}

// TestMetadataRefresh: a failed refresh keeps the last good copy and Check says so;
// the next good refresh clears it.
func TestMetadataRefresh(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	if err := e.p.Check(ctx); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(e.mdFile)
	if err := os.WriteFile(e.mdFile, []byte("<not metadata"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Check(ctx); err != nil {
		t.Fatalf("refresh not due yet, Check: %v", err)
	}
	e.clock.Advance(DefaultMetadataRefresh + time.Minute)
	err := e.p.Check(ctx)
	if !errors.Is(err, providers.ErrUnavailable) || !strings.Contains(err.Error(), "refresh failed") {
		t.Fatalf("Check after a failed refresh: %v", err)
	}
	// Logins still work with the last good copy.
	if _, err := e.p.Begin(ctx, providers.LoginRequest{CallbackURL: e.acs, State: "a.b"}); err != nil {
		t.Fatalf("Begin with the last good metadata: %v", err)
	}
	if err := os.WriteFile(e.mdFile, good, 0o600); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultMetadataRefresh + time.Minute)
	if err := e.p.Check(ctx); err != nil {
		t.Fatalf("Check after a good refresh: %v", err)
	}
	// A metadata file that is unreadable at start is a configuration error.
	cfg := e.cfg
	cfg.IdPMetadataFile = e.mdFile + ".missing"
	if _, err := New(cfg, Options{ReplayCache: e.replay}); err == nil {
		t.Fatal("New with a missing metadata file")
	}
}

// TestCheckExpiredCertificate: an IdP whose only signing certificate has expired
// cannot sign anything goxmldsig accepts; Check says so.
func TestCheckExpiredCertificate(t *testing.T) {
	e := newEnv(t, false)
	e.idp.key, e.idp.cert = newKeyPair(t, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	if err := os.WriteFile(e.mdFile, e.idp.metadata(t), 0o600); err != nil {
		t.Fatal(err)
	}
	p := e.newProvider(t)
	if err := p.Check(context.Background()); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Check with an expired IdP certificate: %v", err)
	}
	e.p = p
	if _, err := e.complete(t, nil, ""); !errors.Is(err, providers.ErrInvalidResponse) {
		t.Fatalf("response signed with an expired certificate: %v", err)
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, false)
	id, err := e.complete(t, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	step, err := e.p.Logout(context.Background(), id, "k")
	if err != nil || step.RedirectURL != "" || step.PostURL != "" {
		t.Fatalf("IdP without SLO: %+v %v", step, err)
	}
	e.idp.sloURL = "https://idp.barreau.example/slo"
	if err := os.WriteFile(e.mdFile, e.idp.metadata(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	step, err = e.p.Logout(context.Background(), id, "k")
	if err != nil || !strings.HasPrefix(step.RedirectURL, "https://idp.barreau.example/slo?SAMLRequest=") {
		t.Fatalf("logout: %+v %v", step, err)
	}
	var up upstream
	_ = json.Unmarshal(id.Upstream, &up)
	if up.SessionIndex == "" || up.NameID != id.Subject {
		t.Fatalf("upstream %+v", up)
	}
	if step, err := e.p.Logout(context.Background(), providers.Identity{}, "k"); err != nil || step.RedirectURL != "" {
		t.Fatalf("identity without upstream data: %+v %v", step, err)
	}
}

func TestSubjectAttribute(t *testing.T) {
	e := newEnv(t, false)
	e.cfg.SubjectAttribute = "numeroAvocat"
	e.p = e.newProvider(t)
	id, err := e.complete(t, nil, "")
	if err != nil || id.Subject != "P0042" {
		t.Fatalf("subject %q, %v", id.Subject, err)
	}
	if _, err := e.complete(t, func(s *respSpec) { s.Attributes["numeroAvocat"] = []string{"P1", "P2"} }, ""); !errors.Is(err, providers.ErrInvalidResponse) {
		t.Fatalf("two subject values: %v", err)
	}
}
