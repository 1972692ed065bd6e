package x509

import (
	"context"
	"crypto"
	stdx509 "crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"

	"github.com/justiceconnect/justiceconnect/providers"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

var (
	oidSmartCardLogon = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 2}
	oidPolicyAgent    = asn1.ObjectIdentifier{1, 2, 250, 1, 999, 1, 2, 3}
	oidPolicyOther    = asn1.ObjectIdentifier{1, 2, 250, 1, 999, 9, 9}
)

const (
	testUPN      = "jdupont@justice.gouv.fr"
	testMail     = "jean.dupont@justice.gouv.fr"
	testSerialNo = "PA-2011-0042"
	testSubject  = "0f8c2a64-agent-0001"
)

// fixture is a card PKI (root -> "AC Cartes Agents" intermediate -> cards), an
// HTTP server publishing CRLs and answering OCSP, and a fake directory.
type fixture struct {
	t    *testing.T
	root *peer.CA
	sub  *peer.CA
	// other is a second trusted intermediate, when a test makes one.
	other *peer.CA
	// anchors is the PEM file of the root.
	anchors string
	srv     *httptest.Server
	dir     *fakeDir

	mu       sync.Mutex
	now      time.Time
	crls     map[string][]byte // path -> DER
	crlDown  bool
	crlHits  int
	ocspDown bool
	// ocspStatus maps a serial (decimal) to ocsp.Good/Revoked; absent is Unknown.
	ocspStatus map[string]int
	// ocspSigner signs OCSP responses (default: the intermediate itself).
	ocspSigner     crypto.Signer
	ocspSignerCert *stdx509.Certificate
	// ocspNoEmbed leaves the signer's certificate out of the response.
	ocspNoEmbed bool
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		t:          t,
		now:        time.Now().Truncate(time.Second),
		crls:       map[string][]byte{},
		ocspStatus: map[string]int{},
		dir:        &fakeDir{entries: map[string]map[string]providers.Identity{}},
	}
	f.root = peer.NewCA(t, "AC Racine Justice (test)")
	f.sub = f.root.IssueCA(t, "AC Cartes Agents (test)")
	f.anchors = f.root.WriteCert(t, t.TempDir(), "root.pem")
	f.ocspSigner, f.ocspSignerCert = f.sub.Key, f.sub.Cert
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.publishCRL("sub", f.sub)
	f.dir.add("upn", testUPN, providers.Identity{Subject: testSubject, Username: "jdupont",
		Attributes: map[string][]string{"mail": {testMail}}})
	f.dir.add("mail", testMail, providers.Identity{Subject: testSubject, Username: "jdupont"})
	f.dir.add("matricule", testSerialNo, providers.Identity{Subject: testSubject, Username: "jdupont"})
	// A trap for SECURITY.md I6: an entry whose key value appears in cards' CNs.
	f.dir.add("upn", "jdupont", providers.Identity{Subject: "someone-else", Username: "jdupont"})
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crlHits
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// publishCRL serves a fresh CRL of ca (at the fixture's clock) at /crl/name.
func (f *fixture) publishCRL(name string, ca *peer.CA, revoked ...*stdx509.Certificate) {
	f.t.Helper()
	der := ca.CRLAt(f.t, f.clock(), revoked...)
	f.mu.Lock()
	f.crls["/crl/"+name] = der
	f.mu.Unlock()
}

func (f *fixture) crlURL(name string) string { return f.srv.URL + "/crl/" + name }

func (f *fixture) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && len(r.URL.Path) > 5 && r.URL.Path[:5] == "/crl/":
		f.crlHits++
		der, ok := f.crls[r.URL.Path]
		switch {
		case f.crlDown:
			http.Error(w, "down", http.StatusServiceUnavailable)
		case !ok:
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "application/pkix-crl")
			_, _ = w.Write(der)
		}
	case r.Method == http.MethodPost && r.URL.Path == "/ocsp":
		if f.ocspDown {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
			return
		}
		status, ok := f.ocspStatus[req.SerialNumber.String()]
		if !ok {
			status = ocsp.Unknown
		}
		tmpl := ocsp.Response{
			Status:       status,
			SerialNumber: req.SerialNumber,
			ThisUpdate:   f.now.Add(-time.Minute),
			NextUpdate:   f.now.Add(time.Hour),
			RevokedAt:    f.now.Add(-time.Hour),
		}
		if f.ocspSignerCert != f.sub.Cert && !f.ocspNoEmbed {
			tmpl.Certificate = f.ocspSignerCert
		}
		der, err := ocsp.CreateResponse(f.sub.Cert, f.ocspSignerCert, tmpl, f.ocspSigner)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(der)
	default:
		http.NotFound(w, r)
	}
}

// config is a working configuration mapping by UPN.
func (f *fixture) config() Config {
	return Config{
		TrustAnchors: []string{f.anchors},
		Mapping:      MappingConfig{Rule: RuleUPN, LookupKey: "upn"},
		Directory:    "annuaire",
	}
}

func (f *fixture) provider(cfg Config) *Provider {
	f.t.Helper()
	p, err := New(cfg, f.dir, Options{
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:        f.clock,
		HTTPClient: f.srv.Client(),
	})
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	return p
}

// card issues an agent card from the intermediate: client auth, the CRL of the
// intermediate, a UPN and an e-mail, a subject serialNumber, the agent policy.
// Options apply after those defaults. It returns the chain leaf first.
func (f *fixture) card(opts ...peer.CertOption) []*stdx509.Certificate {
	f.t.Helper()
	return f.cardFrom(f.sub, opts...)
}

func (f *fixture) cardFrom(ca *peer.CA, opts ...peer.CertOption) []*stdx509.Certificate {
	f.t.Helper()
	base := []peer.CertOption{
		peer.WithSubject(pkix.Name{CommonName: "Jean DUPONT", SerialNumber: testSerialNo, Organization: []string{"Ministère de la Justice"}}),
		peer.WithClientAuth(),
		peer.WithCRLDistributionPoints(f.crlURL("sub")),
		peer.WithPolicies(oidPolicyAgent),
		withSAN([]string{testUPN}, testMail),
	}
	_, _, leaf, _ := ca.Issue(f.t, append(base, opts...)...)
	return []*stdx509.Certificate{leaf, ca.Cert}
}

// withSAN replaces the subjectAltName with UPN otherNames and rfc822Names (nil
// upns and no emails: no extension at all).
func withSAN(upns []string, emails ...string) peer.CertOption {
	return peer.WithTemplate(func(c *stdx509.Certificate) {
		kept := c.ExtraExtensions[:0]
		for _, e := range c.ExtraExtensions {
			if !e.Id.Equal(oidSubjectAltName) {
				kept = append(kept, e)
			}
		}
		c.ExtraExtensions = kept
		c.EmailAddresses = nil
		if len(upns) == 0 && len(emails) == 0 {
			return
		}
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, u := range upns {
				b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidUPN)
					b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(u)) })
					})
				})
			}
			for _, e := range emails {
				b.AddASN1(cbasn1.Tag(1).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(e)) })
			}
		})
		c.ExtraExtensions = append(c.ExtraExtensions, pkix.Extension{Id: oidSubjectAltName, Value: b.BytesOrPanic()})
	})
}

// fakeDir is an AttributeSource matching values exactly, per key.
type fakeDir struct {
	mu      sync.Mutex
	entries map[string]map[string]providers.Identity
	err     error
	calls   []string
}

func (d *fakeDir) add(key, value string, id providers.Identity) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.entries[key] == nil {
		d.entries[key] = map[string]providers.Identity{}
	}
	d.entries[key][value] = id
}

func (d *fakeDir) remove(key, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.entries[key], value)
}

func (d *fakeDir) Lookup(_ context.Context, key, value string) (providers.Identity, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, key+"="+value)
	if d.err != nil {
		return providers.Identity{}, d.err
	}
	id, ok := d.entries[key][value]
	if !ok {
		return providers.Identity{}, providers.ErrUnknownUser
	}
	return id, nil
}

func serial(n int64) peer.CertOption { return peer.WithSerial(big.NewInt(n)) }
