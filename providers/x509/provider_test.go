package x509

import (
	"context"
	stdx509 "crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/justiceconnect/justiceconnect/providers"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

func TestAuthenticate(t *testing.T) {
	type want struct {
		reason   string // RejectReason, "" for none
		sentinel error  // errors.Is, nil for success
		subject  string
	}
	ok := want{subject: testSubject}
	rejected := func(reason string) want { return want{reason: reason, sentinel: providers.ErrBadCredentials} }
	unavailable := want{reason: ReasonRevocationUnavailable, sentinel: providers.ErrUnavailable}
	tests := []struct {
		name  string
		cfg   func(*fixture, *Config)
		setup func(*fixture)
		chain func(*fixture) []*stdx509.Certificate
		want  want
	}{
		{name: "valid card", want: ok},
		{
			name:  "valid card, leaf only, intermediates file",
			cfg:   func(f *fixture, c *Config) { c.Intermediates = f.sub.WriteCert(f.t, f.t.TempDir(), "sub.pem") },
			chain: func(f *fixture) []*stdx509.Certificate { return f.card()[:1] },
			want:  ok,
		},
		{
			name:  "leaf only, intermediate unknown",
			chain: func(f *fixture) []*stdx509.Certificate { return f.card()[:1] },
			want:  rejected(ReasonUntrusted),
		},
		{name: "no certificate", chain: func(*fixture) []*stdx509.Certificate { return nil }, want: rejected(ReasonMissing)},
		{
			name: "expired",
			chain: func(f *fixture) []*stdx509.Certificate {
				return f.card(peer.WithValidity(f.now.AddDate(-2, 0, 0), f.now.Add(-time.Minute)))
			},
			want: rejected(ReasonExpired),
		},
		{
			name: "not yet valid",
			chain: func(f *fixture) []*stdx509.Certificate {
				return f.card(peer.WithValidity(f.now.Add(time.Hour), f.now.AddDate(1, 0, 0)))
			},
			want: rejected(ReasonNotYetValid),
		},
		{
			name: "wrong CA with the same names",
			chain: func(f *fixture) []*stdx509.Certificate {
				rogue := peer.NewCA(f.t, "AC Racine Justice (test)").IssueCA(f.t, "AC Cartes Agents (test)")
				return f.cardFrom(rogue)
			},
			want: rejected(ReasonUntrusted),
		},
		{
			name: "revoked by CRL",
			chain: func(f *fixture) []*stdx509.Certificate {
				chain := f.card()
				f.publishCRL("sub", f.sub, chain[0])
				return chain
			},
			want: rejected(ReasonRevoked),
		},
		{
			name: "another card revoked by CRL",
			chain: func(f *fixture) []*stdx509.Certificate {
				other := f.card()
				f.publishCRL("sub", f.sub, other[0])
				return f.card()
			},
			want: ok,
		},
		{
			name: "intermediate revoked by the root's CRL",
			setup: func(f *fixture) {
				f.sub = f.root.IssueCA(f.t, "AC Cartes Agents (test)", peer.WithCRLDistributionPoints(f.crlURL("root")))
				f.ocspSigner, f.ocspSignerCert = f.sub.Key, f.sub.Cert
				f.publishCRL("sub", f.sub)
				f.publishCRL("root", f.root, f.sub.Cert)
			},
			want: rejected(ReasonRevoked),
		},
		{
			name: "intermediate checked against the root's CRL",
			setup: func(f *fixture) {
				f.sub = f.root.IssueCA(f.t, "AC Cartes Agents (test)", peer.WithCRLDistributionPoints(f.crlURL("root")))
				f.publishCRL("sub", f.sub)
				f.publishCRL("root", f.root)
			},
			want: ok,
		},
		{
			name: "revoked by OCSP",
			chain: func(f *fixture) []*stdx509.Certificate {
				chain := f.card(peer.WithOCSPServer(f.srv.URL+"/ocsp"), withoutCDP())
				f.ocspStatus[chain[0].SerialNumber.String()] = ocsp.Revoked
				return chain
			},
			want: rejected(ReasonRevoked),
		},
		{
			name: "good by OCSP, CRL not needed",
			chain: func(f *fixture) []*stdx509.Certificate {
				chain := f.card(peer.WithOCSPServer(f.srv.URL + "/ocsp"))
				f.ocspStatus[chain[0].SerialNumber.String()] = ocsp.Good
				f.crlDown = true
				return chain
			},
			want: ok,
		},
		{
			name: "OCSP revoked wins over a good CRL",
			chain: func(f *fixture) []*stdx509.Certificate {
				chain := f.card(peer.WithOCSPServer(f.srv.URL + "/ocsp"))
				f.ocspStatus[chain[0].SerialNumber.String()] = ocsp.Revoked
				return chain
			},
			want: rejected(ReasonRevoked),
		},
		{
			name: "OCSP down falls back to the CRL",
			chain: func(f *fixture) []*stdx509.Certificate {
				chain := f.card(peer.WithOCSPServer(f.srv.URL + "/ocsp"))
				f.ocspDown = true
				f.publishCRL("sub", f.sub, chain[0])
				return chain
			},
			want: rejected(ReasonRevoked),
		},
		{
			name: "OCSP down, no CRL",
			chain: func(f *fixture) []*stdx509.Certificate {
				f.ocspDown = true
				return f.card(peer.WithOCSPServer(f.srv.URL+"/ocsp"), withoutCDP())
			},
			want: unavailable,
		},
		{
			name: "OCSP response signed by another key",
			chain: func(f *fixture) []*stdx509.Certificate {
				chain := f.card(peer.WithOCSPServer(f.srv.URL+"/ocsp"), withoutCDP())
				f.ocspStatus[chain[0].SerialNumber.String()] = ocsp.Good
				rogue := peer.NewCA(f.t, "AC Cartes Agents (test)")
				f.ocspSigner, f.ocspSignerCert = rogue.Key, rogue.Cert
				return chain
			},
			want: unavailable,
		},
		{
			name: "OCSP response signed by another key, no certificate",
			chain: func(f *fixture) []*stdx509.Certificate {
				chain := f.card(peer.WithOCSPServer(f.srv.URL+"/ocsp"), withoutCDP())
				f.ocspStatus[chain[0].SerialNumber.String()] = ocsp.Good
				rogue := peer.NewCA(f.t, "AC Cartes Agents (test)")
				f.ocspSigner, f.ocspSignerCert, f.ocspNoEmbed = rogue.Key, rogue.Cert, true
				return chain
			},
			want: unavailable,
		},
		{
			name: "OCSP status unknown, no CRL",
			chain: func(f *fixture) []*stdx509.Certificate {
				return f.card(peer.WithOCSPServer(f.srv.URL+"/ocsp"), withoutCDP())
			},
			want: unavailable,
		},
		{
			name: "OCSP delegated responder without OCSPSigning",
			chain: func(f *fixture) []*stdx509.Certificate {
				chain := f.card(peer.WithOCSPServer(f.srv.URL+"/ocsp"), withoutCDP())
				f.ocspStatus[chain[0].SerialNumber.String()] = ocsp.Good
				_, _, cert, key := f.sub.Issue(f.t, peer.WithCommonName("OCSP"), peer.WithClientAuth())
				f.ocspSigner, f.ocspSignerCert = key, cert
				return chain
			},
			want: unavailable,
		},
		{
			name: "OCSP delegated responder",
			chain: func(f *fixture) []*stdx509.Certificate {
				chain := f.card(peer.WithOCSPServer(f.srv.URL+"/ocsp"), withoutCDP())
				f.ocspStatus[chain[0].SerialNumber.String()] = ocsp.Good
				_, _, cert, key := f.sub.Issue(f.t, peer.WithCommonName("OCSP"),
					peer.WithExtKeyUsage(stdx509.ExtKeyUsageOCSPSigning))
				f.ocspSigner, f.ocspSignerCert = key, cert
				return chain
			},
			want: ok,
		},
		{
			name:  "CRL unreachable, reject",
			setup: func(f *fixture) { f.crlDown = true },
			want:  unavailable,
		},
		{
			name:  "CRL unreachable, use_last, nothing cached",
			cfg:   func(_ *fixture, c *Config) { c.CRL.OnFailure = OnFailureUseLast },
			setup: func(f *fixture) { f.crlDown = true },
			want:  unavailable,
		},
		{
			name: "CRL with a bad signature",
			setup: func(f *fixture) {
				rogue := f.root.IssueCA(f.t, "AC Cartes Agents (test)") // same name, other key
				f.publishCRL("sub", rogue)
			},
			want: unavailable,
		},
		{
			name:  "CRL of another CA",
			setup: func(f *fixture) { f.publishCRL("sub", f.root) },
			want:  unavailable,
		},
		{
			name:  "CRL past its nextUpdate",
			setup: func(f *fixture) { f.publishCRL("sub", f.sub); f.now = f.now.Add(25 * time.Hour) },
			want:  unavailable,
		},
		{
			name:  "crl.urls overrides the distribution point",
			cfg:   func(f *fixture, c *Config) { c.CRL.URLs = []string{f.crlURL("override")} },
			setup: func(f *fixture) { f.crlDown = false },
			chain: func(f *fixture) []*stdx509.Certificate {
				chain := f.card()
				f.publishCRL("override", f.sub, chain[0])
				return chain
			},
			want: rejected(ReasonRevoked),
		},
		{
			name:  "no revocation source",
			chain: func(f *fixture) []*stdx509.Certificate { return f.card(withoutCDP()) },
			want:  unavailable,
		},
		{
			name:  "no revocation source, insecure_no_revocation",
			cfg:   func(_ *fixture, c *Config) { c.InsecureNoRevocation = true },
			chain: func(f *fixture) []*stdx509.Certificate { return f.card(withoutCDP()) },
			want:  ok,
		},
		{
			name:  "no extended key usage",
			chain: func(f *fixture) []*stdx509.Certificate { return f.card(peer.WithExtKeyUsage()) },
			want:  rejected(ReasonWrongUsage),
		},
		{
			name: "e-mail protection only",
			chain: func(f *fixture) []*stdx509.Certificate {
				return f.card(peer.WithExtKeyUsage(stdx509.ExtKeyUsageEmailProtection))
			},
			want: rejected(ReasonWrongUsage),
		},
		{
			name: "anyExtendedKeyUsage not allowed by default",
			chain: func(f *fixture) []*stdx509.Certificate {
				return f.card(peer.WithExtKeyUsage(stdx509.ExtKeyUsageAny))
			},
			want: rejected(ReasonWrongUsage),
		},
		{
			name: "smart card logon only",
			chain: func(f *fixture) []*stdx509.Certificate {
				return f.card(peer.WithExtKeyUsage(), peer.WithUnknownExtKeyUsage(oidSmartCardLogon))
			},
			want: ok,
		},
		{
			name: "smart card logon only, not allowed",
			cfg:  func(_ *fixture, c *Config) { c.AllowedEKUs = []string{EKUClientAuth} },
			chain: func(f *fixture) []*stdx509.Certificate {
				return f.card(peer.WithExtKeyUsage(), peer.WithUnknownExtKeyUsage(oidSmartCardLogon))
			},
			want: rejected(ReasonWrongUsage),
		},
		{
			name: "intermediate restricted to e-mail protection",
			setup: func(f *fixture) {
				f.sub = f.root.IssueCA(f.t, "AC Cartes Agents (test)",
					peer.WithExtKeyUsage(stdx509.ExtKeyUsageEmailProtection))
				f.publishCRL("sub", f.sub)
			},
			want: rejected(ReasonWrongUsage),
		},
		{
			name: "no digitalSignature key usage",
			chain: func(f *fixture) []*stdx509.Certificate {
				return f.card(peer.WithTemplate(func(c *stdx509.Certificate) { c.KeyUsage = stdx509.KeyUsageKeyEncipherment }))
			},
			want: rejected(ReasonWrongUsage),
		},
		{
			name: "a CA certificate as the card",
			chain: func(f *fixture) []*stdx509.Certificate {
				ca := f.root.IssueCA(f.t, "AC Cartes Agents (test)", peer.WithClientAuth(), withSAN([]string{testUPN}),
					peer.WithCRLDistributionPoints(f.crlURL("root")))
				f.publishCRL("root", f.root)
				return []*stdx509.Certificate{ca.Cert}
			},
			want: rejected(ReasonWrongUsage),
		},
		{
			name: "required policy present",
			cfg: func(_ *fixture, c *Config) {
				c.RequiredPolicies = []string{oidPolicyOther.String(), oidPolicyAgent.String()}
			},
			want: ok,
		},
		{
			name: "required policy missing",
			cfg:  func(_ *fixture, c *Config) { c.RequiredPolicies = []string{oidPolicyOther.String()} },
			want: rejected(ReasonPolicy),
		},
		{
			name: "required policy excluded by the intermediate's policies",
			cfg:  func(_ *fixture, c *Config) { c.RequiredPolicies = []string{oidPolicyAgent.String()} },
			setup: func(f *fixture) {
				f.sub = f.root.IssueCA(f.t, "AC Cartes Agents (test)", peer.WithPolicies(oidPolicyOther),
					peer.WithTemplate(func(c *stdx509.Certificate) {
						// policyConstraints {requireExplicitPolicy 0}: CreateCertificate
						// does not encode RequireExplicitPolicy.
						c.ExtraExtensions = append(c.ExtraExtensions, pkix.Extension{
							Id: []int{2, 5, 29, 36}, Critical: true, Value: []byte{0x30, 0x03, 0x80, 0x01, 0x00}})
					}))
				f.publishCRL("sub", f.sub)
			},
			want: rejected(ReasonPolicy),
		},
		{
			name:  "no directory entry",
			chain: func(f *fixture) []*stdx509.Certificate { return f.card(withSAN([]string{"nobody@justice.gouv.fr"})) },
			want:  want{sentinel: providers.ErrUnknownUser},
		},
		{
			name:  "directory down",
			setup: func(f *fixture) { f.dir.err = providers.ErrUnavailable },
			want:  want{sentinel: providers.ErrUnavailable},
		},
		{
			name:  "directory disabled account",
			setup: func(f *fixture) { f.dir.err = providers.ErrAccountDisabled },
			want:  want{sentinel: providers.ErrAccountDisabled},
		},
		{
			name:  "directory misconfigured",
			setup: func(f *fixture) { f.dir.err = errors.New(`ldap: lookup: no lookup_attributes entry for key "upn"`) },
			want:  want{sentinel: providers.ErrUnavailable},
		},
		{
			// SECURITY.md I6: the CN holds the login of an entry, but only an exact
			// SAN UPN maps.
			name: "CN containing a user's name does not map",
			chain: func(f *fixture) []*stdx509.Certificate {
				return f.card(peer.WithSubject(pkix.Name{CommonName: "jdupont"}), withSAN(nil, testMail))
			},
			want: want{sentinel: providers.ErrUnknownUser},
		},
		{
			name: "UPN that contains a user's UPN does not map",
			chain: func(f *fixture) []*stdx509.Certificate {
				return f.card(withSAN([]string{"x" + testUPN}))
			},
			want: want{sentinel: providers.ErrUnknownUser},
		},
		{
			name:  "two UPNs do not map",
			chain: func(f *fixture) []*stdx509.Certificate { return f.card(withSAN([]string{testUPN, "jdupont"})) },
			want:  want{sentinel: providers.ErrUnknownUser},
		},
		{
			name:  "mapping by e-mail",
			cfg:   func(_ *fixture, c *Config) { c.Mapping = MappingConfig{Rule: RuleEmail, LookupKey: "mail"} },
			chain: func(f *fixture) []*stdx509.Certificate { return f.card(withSAN(nil, testMail)) },
			want:  ok,
		},
		{
			name: "mapping by e-mail, subject emailAddress only",
			cfg:  func(_ *fixture, c *Config) { c.Mapping = MappingConfig{Rule: RuleEmail, LookupKey: "mail"} },
			chain: func(f *fixture) []*stdx509.Certificate {
				return f.card(withSAN([]string{testUPN}), peer.WithSubject(pkix.Name{CommonName: "Jean DUPONT",
					ExtraNames: []pkix.AttributeTypeAndValue{{Type: []int{1, 2, 840, 113549, 1, 9, 1}, Value: testMail}}}))
			},
			want: want{sentinel: providers.ErrUnknownUser},
		},
		{
			name: "mapping by subject serialNumber",
			cfg: func(_ *fixture, c *Config) {
				c.Mapping = MappingConfig{Rule: RuleSubjectSerialNumber, LookupKey: "matricule"}
			},
			chain: func(f *fixture) []*stdx509.Certificate { return f.card(withSAN(nil)) },
			want:  ok,
		},
		{
			name: "mapping by subject serialNumber, none",
			cfg: func(_ *fixture, c *Config) {
				c.Mapping = MappingConfig{Rule: RuleSubjectSerialNumber, LookupKey: "matricule"}
			},
			chain: func(f *fixture) []*stdx509.Certificate {
				return f.card(peer.WithSubject(pkix.Name{CommonName: testSerialNo}))
			},
			want: want{sentinel: providers.ErrUnknownUser},
		},
		{
			name: "mapping by issuer and serial",
			cfg: func(_ *fixture, c *Config) {
				c.Mapping = MappingConfig{Rule: RuleIssuerSerial, LookupKey: "certificat"}
			},
			chain: func(f *fixture) []*stdx509.Certificate {
				chain := f.card(serial(4242))
				f.dir.add("certificat", "4242@CN=AC Cartes Agents (test),O=JusticeConnect tests",
					providers.Identity{Subject: testSubject})
				return chain
			},
			want: ok,
		},
		{
			name: "mapping by issuer and serial, same serial from another CA",
			cfg: func(f *fixture, c *Config) {
				c.Mapping = MappingConfig{Rule: RuleIssuerSerial, LookupKey: "certificat"}
				c.TrustAnchors = append(c.TrustAnchors, f.otherAnchor())
				c.InsecureNoRevocation = true
			},
			chain: func(f *fixture) []*stdx509.Certificate {
				f.dir.add("certificat", "4242@CN=AC Cartes Agents (test),O=JusticeConnect tests",
					providers.Identity{Subject: testSubject})
				chain := f.cardFrom(f.other, serial(4242), withoutCDP())
				return chain
			},
			want: want{sentinel: providers.ErrUnknownUser},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			// setup and chain run before any request reaches f.srv.
			if tt.setup != nil {
				tt.setup(f)
			}
			cfg := f.config()
			if tt.cfg != nil {
				tt.cfg(f, &cfg)
			}
			p := f.provider(cfg)
			chain := f.card()
			if tt.chain != nil {
				chain = tt.chain(f)
			}
			id, err := p.Authenticate(context.Background(), chain)
			if got := RejectReason(err); got != tt.want.reason {
				t.Errorf("RejectReason = %q, want %q (error: %v)", got, tt.want.reason, err)
			}
			if tt.want.sentinel == nil {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if id.Subject != tt.want.subject {
					t.Errorf("Subject = %q, want %q", id.Subject, tt.want.subject)
				}
				return
			}
			if !errors.Is(err, tt.want.sentinel) {
				t.Errorf("error %v, want %v", err, tt.want.sentinel)
			}
			if tt.want.reason != "" && !errors.Is(err, ErrCertificateRejected) {
				t.Errorf("error %v does not wrap ErrCertificateRejected", err)
			}
			if tt.want.reason == "" && errors.Is(err, ErrCertificateRejected) {
				t.Errorf("error %v wraps ErrCertificateRejected", err)
			}
			if id.Subject != "" {
				t.Errorf("Subject %q returned with an error", id.Subject)
			}
		})
	}
}

// withoutCDP removes the CRL distribution points of a card.
func withoutCDP() peer.CertOption {
	return peer.WithTemplate(func(c *stdx509.Certificate) { c.CRLDistributionPoints = nil })
}

// otherAnchor makes a second trusted card PKI (f.other is its intermediate).
func (f *fixture) otherAnchor() string {
	root := peer.NewCA(f.t, "AC Racine Autre (test)")
	f.other = root.IssueCA(f.t, "AC Cartes Magistrats (test)")
	return root.WriteCert(f.t, f.t.TempDir(), "other.pem")
}

func TestAuthenticateIdentity(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	cfg.AMR = []string{"pin", "sc"}
	p := f.provider(cfg)
	id, err := p.Authenticate(context.Background(), f.card())
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != testSubject || id.Username != "jdupont" || id.Attribute("mail") != testMail {
		t.Errorf("identity = %+v, want the directory's", id)
	}
	if !id.Authn.Time.Equal(f.now) {
		t.Errorf("Authn.Time = %v, want %v", id.Authn.Time, f.now)
	}
	if want := []string{"sc", "hwk", "pin"}; !slices.Equal(id.Authn.Methods, want) {
		t.Errorf("Authn.Methods = %v, want %v", id.Authn.Methods, want)
	}
	if want := []string{oidPolicyAgent.String()}; !slices.Equal(id.Authn.CertificatePolicies, want) {
		t.Errorf("Authn.CertificatePolicies = %v, want %v", id.Authn.CertificatePolicies, want)
	}
	if want := []string{"upn=" + testUPN}; !slices.Equal(f.dir.calls, want) {
		t.Errorf("directory lookups = %v, want %v", f.dir.calls, want)
	}
	if p.Directory() != "annuaire" {
		t.Errorf("Directory() = %q", p.Directory())
	}

	// Refresh looks the same entry up again; a removed entry loses its tokens.
	again, err := p.Refresh(context.Background(), id)
	if err != nil || again.Subject != testSubject || !again.Authn.Time.Equal(id.Authn.Time) {
		t.Fatalf("Refresh = %+v, %v", again, err)
	}
	f.dir.remove("upn", testUPN)
	if _, err := p.Refresh(context.Background(), id); !errors.Is(err, providers.ErrUnknownUser) {
		t.Errorf("Refresh of a removed entry: %v, want ErrUnknownUser", err)
	}
	f.dir.add("upn", testUPN, providers.Identity{Subject: "another-person"})
	if _, err := p.Refresh(context.Background(), id); !errors.Is(err, providers.ErrUnknownUser) {
		t.Errorf("Refresh to another subject: %v, want ErrUnknownUser", err)
	}
}

// TestCRLFailurePolicy follows one CRL through its life: fetched at the first
// login, cached, then its server goes down and its nextUpdate passes.
func TestCRLFailurePolicy(t *testing.T) {
	for _, policy := range []string{OnFailureReject, OnFailureUseLast} {
		t.Run(policy, func(t *testing.T) {
			f := newFixture(t)
			cfg := f.config()
			cfg.CRL.OnFailure = policy
			cfg.CRL.Grace = 6 * time.Hour
			p := f.provider(cfg)
			chain := f.card()
			login := func() error {
				_, err := p.Authenticate(context.Background(), chain)
				return err
			}
			if err := login(); err != nil {
				t.Fatalf("first login: %v", err)
			}
			if err := login(); err != nil || f.hits() != 1 {
				t.Fatalf("second login: %v, %d fetches, want 1 (cached)", err, f.hits())
			}
			f.mu.Lock()
			f.crlDown = true
			f.mu.Unlock()

			// Due for refresh but the CRL is current: still used.
			f.advance(2 * time.Hour)
			if err := login(); err != nil {
				t.Fatalf("server down, CRL current: %v", err)
			}
			if err := p.Check(context.Background()); err != nil {
				t.Errorf("Check with a current CRL: %v", err)
			}
			// Past nextUpdate (24h after publication).
			f.advance(23 * time.Hour)
			err := login()
			if policy == OnFailureReject {
				if RejectReason(err) != ReasonRevocationUnavailable || !errors.Is(err, providers.ErrUnavailable) {
					t.Fatalf("stale CRL with reject: %v", err)
				}
				if err := p.Check(context.Background()); err == nil {
					t.Error("Check with a stale CRL and reject: ok")
				}
			} else {
				if err != nil {
					t.Fatalf("stale CRL with use_last within grace: %v", err)
				}
				if err := p.Check(context.Background()); err != nil {
					t.Errorf("Check within grace: %v", err)
				}
				f.advance(6 * time.Hour)
				if err := login(); RejectReason(err) != ReasonRevocationUnavailable {
					t.Fatalf("stale CRL past grace: %v", err)
				}
				if err := p.Check(context.Background()); err == nil {
					t.Error("Check past grace: ok")
				}
			}
			// The server comes back with a new CRL: logins and Check recover.
			f.publishCRL("sub", f.sub)
			f.mu.Lock()
			f.crlDown = false
			f.mu.Unlock()
			if err := p.Check(context.Background()); err != nil {
				t.Errorf("Check after recovery: %v", err)
			}
			if err := login(); err != nil {
				t.Errorf("login after recovery: %v", err)
			}
		})
	}
}

// TestCRLRefresh checks that a revocation published after the first fetch is
// seen once crl.refresh has passed, and that a CRL with a lower number is refused.
func TestCRLRefresh(t *testing.T) {
	f := newFixture(t)
	p := f.provider(f.config())
	chain := f.card()
	older := f.sub.CRLAt(t, f.now) // number n
	if _, err := p.Authenticate(context.Background(), chain); err != nil {
		t.Fatal(err)
	}
	f.publishCRL("sub", f.sub, chain[0])
	if _, err := p.Authenticate(context.Background(), chain); err != nil {
		t.Fatalf("before refresh, cached CRL: %v", err)
	}
	f.advance(DefaultCRLRefresh + time.Minute)
	if _, err := p.Authenticate(context.Background(), chain); RejectReason(err) != ReasonRevoked {
		t.Fatalf("after refresh: %v, want revoked", err)
	}
	// A replayed older CRL (lower number) does not un-revoke.
	f.mu.Lock()
	f.crls["/crl/sub"] = older
	f.mu.Unlock()
	f.advance(DefaultCRLRefresh + time.Minute)
	if _, err := p.Authenticate(context.Background(), chain); RejectReason(err) != ReasonRevoked {
		t.Fatalf("replayed older CRL: %v, want revoked", err)
	}
}

func TestCheck(t *testing.T) {
	f := newFixture(t)
	p := f.provider(f.config())
	if err := p.Check(context.Background()); err != nil {
		t.Fatalf("Check before any CRL: %v", err)
	}
}

func TestNew(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	leafPEM, _, _, _ := f.sub.Issue(t, peer.WithClientAuth())
	notCA := filepath.Join(dir, "leaf.pem")
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(notCA, leafPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("nothing here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Config){
		"missing anchors file": func(c *Config) { c.TrustAnchors = []string{filepath.Join(dir, "absent.pem")} },
		"anchor not a CA":      func(c *Config) { c.TrustAnchors = []string{notCA} },
		"anchors not PEM":      func(c *Config) { c.TrustAnchors = []string{empty} },
		"intermediates absent": func(c *Config) { c.Intermediates = filepath.Join(dir, "absent.pem") },
		"invalid settings":     func(c *Config) { c.Mapping.Rule = "cn" },
	} {
		cfg := f.config()
		edit(&cfg)
		if _, err := New(cfg, f.dir, Options{}); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := New(f.config(), nil, Options{}); err == nil {
		t.Error("New without a directory succeeded")
	}
}

func TestIssuerSerial(t *testing.T) {
	ca := peer.NewCA(t, "AC, \"Cartes\"+Agents")
	_, _, cert, _ := ca.Issue(t, serial(123456789))
	got, err := IssuerSerial(cert)
	if err != nil {
		t.Fatal(err)
	}
	if want := `123456789@CN=AC\, \"Cartes\"\+Agents,O=JusticeConnect tests`; got != want {
		t.Errorf("IssuerSerial = %q, want %q", got, want)
	}
}

// TestUPNParsing feeds malformed subjectAltNames: they map to nobody.
func TestUPNParsing(t *testing.T) {
	for name, value := range map[string][]byte{
		"truncated":           {0x30, 0x05, 0xa0, 0x03},
		"trailing data":       {0x30, 0x00, 0x00},
		"UPN not UTF8String":  {0x30, 0x14, 0xa0, 0x12, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03, 0xa0, 0x04, 0x16, 0x02, 'a', 'b'},
		"otherName w/o value": {0x30, 0x0e, 0xa0, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03},
		"invalid UTF-8":       {0x30, 0x14, 0xa0, 0x12, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03, 0xa0, 0x04, 0x0c, 0x02, 0xff, 'b'},
	} {
		cert := &stdx509.Certificate{Extensions: []pkix.Extension{{Id: oidSubjectAltName, Value: value}}}
		if v, err := mappingValue(RuleUPN, cert); err == nil {
			t.Errorf("%s: mapped to %q", name, v)
		}
	}
	// The same bytes with a UTF8String parse, so the cases above fail for their reason.
	good := []byte{0x30, 0x14, 0xa0, 0x12, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03, 0xa0, 0x04, 0x0c, 0x02, 'a', 'b'}
	cert := &stdx509.Certificate{Extensions: []pkix.Extension{{Id: oidSubjectAltName, Value: good}}}
	if v, err := mappingValue(RuleUPN, cert); err != nil || v != "ab" {
		t.Errorf("well-formed UPN: %q, %v", v, err)
	}
}

// TestConcurrentLogins runs logins of several cards at once (go test -race): one
// CRL fetch, shared caches.
func TestConcurrentLogins(t *testing.T) {
	f := newFixture(t)
	p := f.provider(f.config())
	chains := make([][]*stdx509.Certificate, 4)
	for i := range chains {
		chains[i] = f.card(peer.WithOCSPServer(f.srv.URL + "/ocsp"))
		if i%2 == 0 {
			f.ocspStatus[chains[i][0].SerialNumber.String()] = ocsp.Good
		}
	}
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		go func() {
			_, err := p.Authenticate(context.Background(), chains[i%len(chains)])
			errs <- err
		}()
	}
	for i := 0; i < 16; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if f.hits() != 1 {
		t.Errorf("%d CRL fetches, want 1", f.hits())
	}
}

func TestPruneOCSP(t *testing.T) {
	f := newFixture(t)
	p := f.provider(f.config())
	for i := 0; i < maxOCSPEntries; i++ {
		p.ocsp[strconv.Itoa(i)] = &ocspEntry{resp: &ocsp.Response{}, expires: f.now.Add(time.Hour)}
	}
	p.ocsp["stale"] = &ocspEntry{resp: &ocsp.Response{}, expires: f.now.Add(-DefaultGrace - time.Minute)}
	p.mu.Lock()
	p.pruneOCSP(f.now)
	p.mu.Unlock()
	if _, ok := p.ocsp["stale"]; ok || len(p.ocsp) >= maxOCSPEntries/2+1 || len(p.ocsp) == 0 {
		t.Errorf("after pruning: %d entries, stale kept: %v", len(p.ocsp), ok)
	}
}
