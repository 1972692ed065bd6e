package saml

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	csaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/justiceconnect/justiceconnect/providers"
)

// fakeIdP is a Go-only IdP: a key, a certificate and metadata, for crafting
// responses byte by byte (hostile ones included).
type fakeIdP struct {
	entityID string
	key      *rsa.PrivateKey
	cert     *x509.Certificate
	sloURL   string
}

func newFakeIdP(t testing.TB) *fakeIdP {
	key, cert := newKeyPair(t, "fake IdP", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	return &fakeIdP{entityID: "https://idp.barreau.example/saml", key: key, cert: cert}
}

func (f *fakeIdP) metadata(t testing.TB) []byte {
	t.Helper()
	ed := csaml.EntityDescriptor{
		EntityID: f.entityID,
		IDPSSODescriptors: []csaml.IDPSSODescriptor{{
			SSODescriptor: csaml.SSODescriptor{
				RoleDescriptor: csaml.RoleDescriptor{
					ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
					KeyDescriptors: []csaml.KeyDescriptor{{Use: "signing", KeyInfo: csaml.KeyInfo{X509Data: csaml.X509Data{
						X509Certificates: []csaml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(f.cert.Raw)}},
					}}}},
				},
			},
			SingleSignOnServices: []csaml.Endpoint{{Binding: csaml.HTTPRedirectBinding, Location: "https://idp.barreau.example/sso"}},
		}},
	}
	if f.sloURL != "" {
		ed.IDPSSODescriptors[0].SingleLogoutServices = []csaml.Endpoint{{Binding: csaml.HTTPRedirectBinding, Location: f.sloURL}}
	}
	b, err := xml.Marshal(ed)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// env is a provider trusting a fakeIdP.
type env struct {
	idp    *fakeIdP
	p      *Provider
	replay *memReplay
	acs    string
	mdFile string
	cfg    Config
	clock  *clock
	// idpDown makes the probe of the fake IdP's sign-on endpoint fail.
	idpDown atomic.Bool
}

// dial stands for the network between the broker and the fake IdP, which has no
// listener: its sign-on endpoint "answers" unless idpDown is set.
func (e *env) dial(_ context.Context, _, addr string) (net.Conn, error) {
	if addr != "idp.barreau.example:443" || e.idpDown.Load() {
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	}
	a, b := net.Pipe()
	_ = b.Close()
	return a, nil
}

const spEntityID = "https://justiceconnect.example/saml/sp"

func newEnv(t testing.TB, withSPKey bool) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{idp: newFakeIdP(t), replay: newMemReplay(), acs: "https://justiceconnect.example/login/callback/barreau", clock: &clock{}}
	e.mdFile = filepath.Join(dir, "idp.xml")
	if err := os.WriteFile(e.mdFile, e.idp.metadata(t), 0o600); err != nil {
		t.Fatal(err)
	}
	e.cfg = Config{EntityID: spEntityID, IdPMetadataFile: e.mdFile}
	if withSPKey {
		k, c := newKeyPair(t, "sp", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
		e.cfg.SPKeyFile, e.cfg.SPCertFile = writeKeyPair(t, dir, k, c)
	}
	e.p = e.newProvider(t)
	return e
}

func (e *env) newProvider(t testing.TB) *Provider {
	t.Helper()
	p, err := New(e.cfg, Options{Logger: testLogger(t), Now: e.clock.Now, ReplayCache: e.replay, Dial: e.dial})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// begin starts a login and returns the step and its request ID.
func (e *env) begin(t testing.TB, state string) (providers.Step, string) {
	t.Helper()
	step, err := e.p.Begin(context.Background(), providers.LoginRequest{CallbackURL: e.acs, State: state})
	if err != nil {
		t.Fatal(err)
	}
	var pend pending
	if err := json.Unmarshal(step.Pending, &pend); err != nil {
		t.Fatal(err)
	}
	return step, pend.RequestID
}

// respSpec describes one Response; validSpec fills a correct one.
type respSpec struct {
	ResponseID, AssertionID      string
	InResponseTo, SCInResponseTo string
	Destination, Recipient       string
	ResponseIssuer, Issuer       string
	Audiences                    [][]string // one inner slice per AudienceRestriction
	Status, SubStatus            string
	IssueInstant, AssertionIssue time.Time
	NotBefore, NotOnOrAfter      time.Time
	SCNotOnOrAfter               time.Time
	SCMethod                     string
	NoSubjectConfirmation        bool
	NoConditions                 bool
	NoAuthnStatement             bool
	NameID, NameIDFormat         string
	ClassRef                     string
	Attributes                   map[string][]string

	SignAssertion, SignResponse bool
	SigMethod                   string
	SignKey                     *rsa.PrivateKey
	SignCert                    *x509.Certificate

	// Hooks on the elements: before the assertion is signed, before the response is
	// signed, and on the finished response.
	MutateAssertion func(a *etree.Element)
	MutateResponse  func(r *etree.Element)
	After           func(r *etree.Element)
}

func (e *env) validSpec(requestID string) *respSpec {
	now := time.Now().UTC()
	return &respSpec{
		ResponseID: "_r" + randomID(), AssertionID: "_a" + randomID(),
		InResponseTo: requestID, SCInResponseTo: requestID,
		Destination: e.acs, Recipient: e.acs,
		ResponseIssuer: e.idp.entityID, Issuer: e.idp.entityID,
		Audiences:    [][]string{{spEntityID}},
		Status:       "urn:oasis:names:tc:SAML:2.0:status:Success",
		IssueInstant: now, AssertionIssue: now,
		NotBefore: now.Add(-30 * time.Second), NotOnOrAfter: now.Add(5 * time.Minute),
		SCNotOnOrAfter: now.Add(5 * time.Minute),
		SCMethod:       methodBearer,
		NameID:         "7f3a9c2e-persistent-adupont", NameIDFormat: NameIDPersistent,
		ClassRef: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
		Attributes: map[string][]string{
			"uid": {"adupont"}, "givenName": {"Anne"}, "sn": {"Dupont"}, "barreau": {"Paris"}, "numeroAvocat": {"P0042"},
		},
		SignAssertion: true, SignResponse: true,
		SigMethod: dsig.RSASHA256SignatureMethod, SignKey: e.idp.key, SignCert: e.idp.cert,
	}
}

func randomID() string {
	var b [12]byte
	_, _ = randRead(b[:])
	return fmt.Sprintf("%x", b)
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func xesc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), `"`, "&#34;")
}

// assertionElement builds the (unsigned) Assertion.
func (s *respSpec) assertionElement(t testing.TB) *etree.Element {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="%s" Version="2.0" IssueInstant="%s">`, xesc(s.AssertionID), ts(s.AssertionIssue))
	fmt.Fprintf(&b, `<saml:Issuer>%s</saml:Issuer>`, xesc(s.Issuer))
	fmt.Fprintf(&b, `<saml:Subject><saml:NameID Format="%s">%s</saml:NameID>`, xesc(s.NameIDFormat), xesc(s.NameID))
	if !s.NoSubjectConfirmation {
		fmt.Fprintf(&b, `<saml:SubjectConfirmation Method="%s"><saml:SubjectConfirmationData NotOnOrAfter="%s" Recipient="%s"`, xesc(s.SCMethod), ts(s.SCNotOnOrAfter), xesc(s.Recipient))
		if s.SCInResponseTo != "" {
			fmt.Fprintf(&b, ` InResponseTo="%s"`, xesc(s.SCInResponseTo))
		}
		b.WriteString(`/></saml:SubjectConfirmation>`)
	}
	b.WriteString(`</saml:Subject>`)
	if !s.NoConditions {
		fmt.Fprintf(&b, `<saml:Conditions NotBefore="%s" NotOnOrAfter="%s">`, ts(s.NotBefore), ts(s.NotOnOrAfter))
		for _, ar := range s.Audiences {
			b.WriteString(`<saml:AudienceRestriction>`)
			for _, a := range ar {
				fmt.Fprintf(&b, `<saml:Audience>%s</saml:Audience>`, xesc(a))
			}
			b.WriteString(`</saml:AudienceRestriction>`)
		}
		b.WriteString(`</saml:Conditions>`)
	}
	if !s.NoAuthnStatement {
		fmt.Fprintf(&b, `<saml:AuthnStatement AuthnInstant="%s" SessionIndex="_session%s"><saml:AuthnContext><saml:AuthnContextClassRef>%s</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`,
			ts(s.AssertionIssue.Add(-2*time.Second)), xesc(s.AssertionID), xesc(s.ClassRef))
	}
	if len(s.Attributes) > 0 {
		b.WriteString(`<saml:AttributeStatement>`)
		for _, name := range sortedKeys(s.Attributes) {
			fmt.Fprintf(&b, `<saml:Attribute Name="%s" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">`, xesc(name))
			for _, v := range s.Attributes[name] {
				fmt.Fprintf(&b, `<saml:AttributeValue xsi:type="xs:string">%s</saml:AttributeValue>`, xesc(v))
			}
			b.WriteString(`</saml:Attribute>`)
		}
		b.WriteString(`</saml:AttributeStatement>`)
	}
	b.WriteString(`</saml:Assertion>`)
	return parseElement(t, b.String())
}

func (s *respSpec) responseElement(t testing.TB) *etree.Element {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s"`, xesc(s.ResponseID), ts(s.IssueInstant))
	if s.Destination != "" {
		fmt.Fprintf(&b, ` Destination="%s"`, xesc(s.Destination))
	}
	if s.InResponseTo != "" {
		fmt.Fprintf(&b, ` InResponseTo="%s"`, xesc(s.InResponseTo))
	}
	fmt.Fprintf(&b, `><saml:Issuer>%s</saml:Issuer><samlp:Status><samlp:StatusCode Value="%s">`, xesc(s.ResponseIssuer), xesc(s.Status))
	if s.SubStatus != "" {
		fmt.Fprintf(&b, `<samlp:StatusCode Value="%s"/>`, xesc(s.SubStatus))
	}
	b.WriteString(`</samlp:StatusCode></samlp:Status></samlp:Response>`)
	return parseElement(t, b.String())
}

func parseElement(t testing.TB, s string) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(s); err != nil {
		t.Fatalf("builder: %v\n%s", err, s)
	}
	return doc.Root()
}

// signElement signs el enveloped and moves the Signature right after the Issuer
// (SAML Core §5.4.1 places it there; verification does not depend on it).
func signElement(t testing.TB, el *etree.Element, key *rsa.PrivateKey, cert *x509.Certificate, method string) *etree.Element {
	t.Helper()
	ctx, err := dsig.NewSigningContext(key, [][]byte{cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(method); err != nil {
		t.Fatal(err)
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	sig := signed.Child[len(signed.Child)-1]
	signed.RemoveChildAt(len(signed.Child) - 1)
	signed.InsertChildAt(1, sig)
	return signed
}

// build produces the response XML.
func (s *respSpec) build(t testing.TB) []byte {
	t.Helper()
	a := s.assertionElement(t)
	if s.MutateAssertion != nil {
		s.MutateAssertion(a)
	}
	if s.SignAssertion {
		a = signElement(t, a, s.SignKey, s.SignCert, s.SigMethod)
	}
	r := s.responseElement(t)
	r.AddChild(a)
	if s.MutateResponse != nil {
		s.MutateResponse(r)
	}
	if s.SignResponse {
		r = signElement(t, r, s.SignKey, s.SignCert, s.SigMethod)
	}
	if s.After != nil {
		s.After(r)
	}
	doc := etree.NewDocument()
	doc.SetRoot(r)
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// form is the ACS POST for a response.
func form(xmlDoc []byte, relayState string) url.Values {
	return map[string][]string{
		"SAMLResponse": {base64.StdEncoding.EncodeToString(xmlDoc)},
		"RelayState":   {relayState},
	}
}

// addReference adds a second Reference to the Signature of el (pointing at
// otherURI) and re-signs SignedInfo, as a CVE-2026-33487 attacker would.
func addReference(t testing.TB, el *etree.Element, otherURI string, key *rsa.PrivateKey) {
	t.Helper()
	sig := el.FindElement("./Signature")
	si := sig.FindElement("./SignedInfo")
	ref := si.FindElement("./Reference").Copy()
	ref.RemoveAttr("URI")
	ref.CreateAttr("URI", otherURI)
	si.InsertChildAt(0, ref) // the first Reference is the other one
	c := si.Copy()
	c.CreateAttr("xmlns:"+sig.Space, dsig.Namespace)
	canon, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(c)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(canon)
	raw, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig.FindElement("./SignatureValue").SetText(base64.StdEncoding.EncodeToString(raw))
}
