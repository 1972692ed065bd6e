package saml

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/justiceconnect/justiceconnect/providers"
)

const testState = "flowid.secret-value"

// complete posts the response built from spec to a fresh login of e.
func (e *env) complete(t *testing.T, spec func(s *respSpec), relay string) (providers.Identity, error) {
	t.Helper()
	step, reqID := e.begin(t, testState)
	s := e.validSpec(reqID)
	if spec != nil {
		spec(s)
	}
	if relay == "" {
		relay = testState
	}
	return e.p.Complete(context.Background(), acsRequest(t, e.acs, form(s.build(t), relay)), step.Pending)
}

// TestCraftedResponses is SECURITY.md §3.G: every row is a mutation of a valid
// response that must be refused with ErrInvalidResponse. The valid rows prove that
// the builder makes responses the provider accepts, so each refusal is due to its
// mutation.
func TestCraftedResponses(t *testing.T) {
	e := newEnv(t, true)
	attacker := newFakeIdP(t)
	now := time.Now().UTC()

	cases := []struct {
		name   string
		spec   func(s *respSpec)
		relay  string
		accept bool
		want   error
	}{
		{name: "valid: response and assertion signed", accept: true},
		{name: "valid: assertion signed only", accept: true, spec: func(s *respSpec) { s.SignResponse = false }},
		{name: "valid: response signed only", accept: true, spec: func(s *respSpec) { s.SignAssertion = false }},

		{name: "G1 unsigned response and assertion", spec: func(s *respSpec) { s.SignAssertion, s.SignResponse = false, false }},
		{name: "G2 attacker key and certificate in KeyInfo", spec: func(s *respSpec) { s.SignKey, s.SignCert = attacker.key, attacker.cert }},
		{name: "G2 attacker key, IdP certificate in KeyInfo", spec: func(s *respSpec) { s.SignKey = attacker.key }},
		{name: "G3 unsigned assertion prepended (XSW)", spec: func(s *respSpec) {
			s.SignResponse = false
			s.MutateResponse = func(r *etree.Element) {
				evil := e.validSpec(s.InResponseTo)
				evil.NameID = "attacker"
				r.InsertChildAt(2, evil.assertionElement(t))
			}
		}},
		{name: "G3 decoy reusing the signed ID, original after it", spec: func(s *respSpec) {
			s.SignResponse = false
			s.MutateResponse = func(r *etree.Element) {
				evil := e.validSpec(s.InResponseTo)
				evil.AssertionID, evil.NameID = s.AssertionID, "attacker"
				r.InsertChildAt(2, evil.assertionElement(t))
			}
		}},
		{name: "G3 decoy with the original signature, original in its Advice", spec: func(s *respSpec) {
			s.SignResponse = false
			s.After = func(r *etree.Element) {
				orig := r.FindElement("./Assertion")
				r.RemoveChild(orig)
				evil := e.validSpec(s.InResponseTo)
				evil.AssertionID, evil.NameID = s.AssertionID, "attacker"
				ev := evil.assertionElement(t)
				ev.InsertChildAt(1, orig.FindElement("./Signature").Copy())
				advice := ev.CreateElement("saml:Advice")
				advice.AddChild(orig)
				r.AddChild(ev)
			}
		}},
		{name: "G3 forged assertion wrapping the signed one in Advice", spec: func(s *respSpec) {
			s.SignResponse = false
			s.After = func(r *etree.Element) {
				orig := r.FindElement("./Assertion")
				r.RemoveChild(orig)
				evil := e.validSpec(s.InResponseTo)
				evil.NameID = "attacker"
				ev := evil.assertionElement(t)
				ev.CreateElement("saml:Advice").AddChild(orig)
				r.AddChild(ev)
			}
		}},
		{name: "G3 signed response tampered after signing", spec: func(s *respSpec) {
			s.After = func(r *etree.Element) {
				r.FindElement("./Assertion/Subject/NameID").SetText("attacker")
			}
		}},
		{name: "G5 two signed assertions", spec: func(s *respSpec) {
			s.MutateResponse = func(r *etree.Element) {
				other := e.validSpec(s.InResponseTo)
				other.NameID = "someone-else"
				r.AddChild(signElement(t, other.assertionElement(t), e.idp.key, e.idp.cert, dsig.RSASHA256SignatureMethod))
			}
		}},
		{name: "G8 Recipient is another ACS", spec: func(s *respSpec) { s.Recipient = "https://evil.example/acs" }},
		{name: "G9 Destination is another ACS", spec: func(s *respSpec) { s.Destination = "https://evil.example/acs" }},
		{name: "G10 no AudienceRestriction", spec: func(s *respSpec) { s.Audiences = nil }},
		{name: "G10 audience is another SP", spec: func(s *respSpec) { s.Audiences = [][]string{{"https://other-sp.example"}} }},
		{name: "G10 second restriction for another SP", spec: func(s *respSpec) {
			s.Audiences = [][]string{{spEntityID}, {"https://other-sp.example"}}
		}},
		{name: "G11 unknown InResponseTo", spec: func(s *respSpec) { s.InResponseTo, s.SCInResponseTo = "id-unknown", "id-unknown" }},
		{name: "G11 InResponseTo of another login", spec: func(s *respSpec) {
			_, other := e.begin(t, "other.flow")
			s.InResponseTo, s.SCInResponseTo = other, other
		}},
		{name: "G11 SubjectConfirmation InResponseTo differs", spec: func(s *respSpec) { s.SCInResponseTo = "id-unknown" }},
		{name: "G12 IdP-initiated (no InResponseTo)", spec: func(s *respSpec) { s.InResponseTo, s.SCInResponseTo = "", "" }},
		{name: "G13 no SubjectConfirmation", spec: func(s *respSpec) { s.NoSubjectConfirmation = true }},
		{name: "G13 holder-of-key instead of bearer", spec: func(s *respSpec) { s.SCMethod = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key" }},
		{name: "G15 expired (IssueInstant 10 min ago, NotOnOrAfter past)", spec: func(s *respSpec) {
			old := now.Add(-10 * time.Minute)
			s.IssueInstant, s.AssertionIssue = old, old
			s.NotBefore, s.NotOnOrAfter, s.SCNotOnOrAfter = old, old.Add(5*time.Minute), old.Add(5*time.Minute)
		}},
		{name: "G15 not yet valid (NotBefore in 10 min)", spec: func(s *respSpec) {
			s.NotBefore, s.NotOnOrAfter = now.Add(10*time.Minute), now.Add(20*time.Minute)
		}},
		{name: "G15 IssueInstant 2 min old, conditions still valid", spec: func(s *respSpec) {
			s.IssueInstant, s.AssertionIssue = now.Add(-2*time.Minute), now.Add(-2*time.Minute)
		}},
		{name: "G15 assertion issued in the future", spec: func(s *respSpec) { s.AssertionIssue = now.Add(10 * time.Minute) }},
		{name: "G15 SubjectConfirmationData expired", spec: func(s *respSpec) { s.SCNotOnOrAfter = now.Add(-5 * time.Minute) }},
		{name: "G16 wrong assertion Issuer", spec: func(s *respSpec) { s.Issuer = "https://evil.example/idp" }},
		{name: "G16 wrong Response Issuer", spec: func(s *respSpec) { s.ResponseIssuer = "https://evil.example/idp" }},
		{name: "G16 status Requester", spec: func(s *respSpec) { s.Status = "urn:oasis:names:tc:SAML:2.0:status:Requester" }},
		{name: "G16 status Responder/AuthnFailed is a cancel", want: providers.ErrCancelled, spec: func(s *respSpec) {
			s.Status, s.SubStatus = "urn:oasis:names:tc:SAML:2.0:status:Responder", "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
		}},
		{name: "G19 two References, the first for another element", spec: func(s *respSpec) {
			s.SignResponse = false
			s.After = func(r *etree.Element) { addReference(t, r.FindElement("./Assertion"), "#other", e.idp.key) }
		}},
		{name: "G19 two References on the response", spec: func(s *respSpec) {
			s.After = func(r *etree.Element) { addReference(t, r, "#"+s.AssertionID, e.idp.key) }
		}},
		{name: "G20 rsa-sha1 signatures", spec: func(s *respSpec) { s.SigMethod = dsig.RSASHA1SignatureMethod }},
		{name: "G20 rsa-sha1 assertion signature, response unsigned", spec: func(s *respSpec) {
			s.SignResponse, s.SigMethod = false, dsig.RSASHA1SignatureMethod
		}},
		{name: "G21 RelayState is a URL, not the flow's", relay: "https://evil.example/steal"},
		// G4 / CVE-2018-0489 class: a comment added inside the signed NameID leaves
		// the exclusive canonical form (and so the signature) unchanged; a parser
		// that reads only the first text node would log in "7f3a9c2e". Refusing is
		// fine; accepting must yield the whole, signed value (checked below).
		{name: "G4 comment injected into the signed NameID", accept: true, spec: func(s *respSpec) {
			s.After = func(r *etree.Element) {
				changed := false
				for _, n := range r.FindElements(".//NameID") {
					v := n.Text()
					if i := strings.Index(v, "-persistent"); i > 0 {
						n.SetText(v[:i])
						n.CreateComment("")
						n.CreateText(v[i:])
						changed = true
					}
				}
				if !changed {
					panic("G4: no NameID to split") // the case would test nothing
				}
			}
		}, want: errCommentOrWhole},
		{name: "transient NameID when persistent is configured", spec: func(s *respSpec) { s.NameIDFormat = NameIDTransient }},
		{name: "no AuthnStatement", spec: func(s *respSpec) { s.NoAuthnStatement = true }},
		{name: "no Conditions", spec: func(s *respSpec) { s.NoConditions = true }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := e.complete(t, tc.spec, tc.relay)
			if tc.want == errCommentOrWhole && err != nil {
				if !errors.Is(err, providers.ErrInvalidResponse) {
					t.Fatalf("refused with %v, want ErrInvalidResponse", err)
				}
				return
			}
			if tc.accept {
				if err != nil {
					t.Fatalf("valid response refused: %v", err)
				}
				if id.Subject != "7f3a9c2e-persistent-adupont" || id.Attribute("barreau") != "Paris" {
					t.Fatalf("identity: %+v", id)
				}
				return
			}
			want := tc.want
			if want == nil {
				want = providers.ErrInvalidResponse
			}
			if !errors.Is(err, want) {
				t.Fatalf("got identity %+v, error %v; want %v", id, err, want)
			}
			if id.Subject != "" {
				t.Fatalf("identity returned with an error: %+v", id)
			}
		})
	}
}

// errCommentOrWhole marks a case that may be refused (ErrInvalidResponse) or
// accepted with exactly the signed identity.
var errCommentOrWhole = errors.New("refused, or accepted with the whole signed value")

// TestReplay is G14 and the consumed half of G11.
func TestReplay(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	step, reqID := e.begin(t, testState)
	s := e.validSpec(reqID)
	doc := s.build(t)
	if _, err := e.p.Complete(ctx, acsRequest(t, e.acs, form(doc, testState)), step.Pending); err != nil {
		t.Fatal(err)
	}
	exp, ok := e.replay.expiry(namespaceAssertion, e.idp.entityID+" "+s.AssertionID)
	if !ok || exp.Before(s.SCNotOnOrAfter) {
		t.Fatalf("assertion ID kept until %v, want at least %v", exp, s.SCNotOnOrAfter)
	}
	// G14: the same assertion again.
	if _, err := e.p.Complete(ctx, acsRequest(t, e.acs, form(doc, testState)), step.Pending); !errors.Is(err, providers.ErrInvalidResponse) {
		t.Fatalf("replayed assertion: %v", err)
	}
	// G11: a new assertion for the consumed request.
	s2 := e.validSpec(reqID)
	if _, err := e.p.Complete(ctx, acsRequest(t, e.acs, form(s2.build(t), testState)), step.Pending); !errors.Is(err, providers.ErrInvalidResponse) {
		t.Fatalf("second answer to one request: %v", err)
	}
}

// TestTransport covers the HTTP side of the POST binding: G18 size limits, method,
// artifact, duplicated parameters.
func TestTransport(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	valid := func(t *testing.T) (providers.Step, url.Values) {
		step, reqID := e.begin(t, testState)
		return step, form(e.validSpec(reqID).build(t), testState)
	}
	t.Run("G18 oversized SAMLResponse", func(t *testing.T) {
		step, f := valid(t)
		f.Set("SAMLResponse", strings.Repeat("A", DefaultMaxResponseBytes+4))
		if _, err := e.p.Complete(ctx, acsRequest(t, e.acs, f), step.Pending); !errors.Is(err, providers.ErrInvalidResponse) {
			t.Fatal(err)
		}
	})
	t.Run("G18 oversized unparsed body", func(t *testing.T) {
		step, f := valid(t)
		f.Set("padding", strings.Repeat("x", 2*DefaultMaxResponseBytes))
		r, _ := http.NewRequest(http.MethodPost, e.acs, strings.NewReader(f.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.ContentLength = -1
		if _, err := e.p.Complete(ctx, r, step.Pending); !errors.Is(err, providers.ErrInvalidResponse) {
			t.Fatal(err)
		}
	})
	t.Run("G18 deeply nested XML", func(t *testing.T) {
		step, f := valid(t)
		deep := `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">` + strings.Repeat("<a>", 40000) + strings.Repeat("</a>", 40000) + `</samlp:Response>`
		f.Set("SAMLResponse", b64(deep))
		if _, err := e.p.Complete(ctx, acsRequest(t, e.acs, f), step.Pending); !errors.Is(err, providers.ErrInvalidResponse) {
			t.Fatal(err)
		}
	})
	t.Run("unparsed body within the limit is read", func(t *testing.T) {
		step, f := valid(t)
		r, _ := http.NewRequest(http.MethodPost, e.acs, strings.NewReader(f.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if _, err := e.p.Complete(ctx, r, step.Pending); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("GET", func(t *testing.T) {
		step, f := valid(t)
		r, _ := http.NewRequest(http.MethodGet, e.acs+"?"+f.Encode(), nil)
		_ = r.ParseForm()
		if _, err := e.p.Complete(ctx, r, step.Pending); !errors.Is(err, providers.ErrInvalidResponse) {
			t.Fatal(err)
		}
	})
	t.Run("SAMLart", func(t *testing.T) {
		step, f := valid(t)
		f.Set("SAMLart", "AAQAAMFbLinlXaCM+FIxiDwGOLAy2T71gbpO7ZhNzAgEANlB90ECfpNEVLg=")
		if _, err := e.p.Complete(ctx, acsRequest(t, e.acs, f), step.Pending); !errors.Is(err, providers.ErrInvalidResponse) {
			t.Fatal(err)
		}
	})
	t.Run("two SAMLResponse", func(t *testing.T) {
		step, f := valid(t)
		f.Add("SAMLResponse", f.Get("SAMLResponse"))
		if _, err := e.p.Complete(ctx, acsRequest(t, e.acs, f), step.Pending); !errors.Is(err, providers.ErrInvalidResponse) {
			t.Fatal(err)
		}
	})
	t.Run("garbage pending", func(t *testing.T) {
		_, f := valid(t)
		if _, err := e.p.Complete(ctx, acsRequest(t, e.acs, f), []byte("{")); !errors.Is(err, providers.ErrInvalidResponse) {
			t.Fatal(err)
		}
	})
}

func b64(s string) string { return encodeB64([]byte(s)) }

// TestParserAbuse covers G6 (XML that does not survive an encoding/xml round trip,
// golang/go#43168) and G17 (a deflate bomb sent as a Redirect-binding message):
// both refused, the bomb without being inflated.
func TestParserAbuse(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	t.Run("G6 round-trip-unstable element name", func(t *testing.T) {
		step, reqID := e.begin(t, testState)
		doc := string(e.validSpec(reqID).build(t))
		// "<x::Extra/>" re-encodes as <Extra xmlns="x"/>: an element that the
		// signature check and the parser would see differently.
		i := strings.Index(doc, "<saml:Issuer")
		if i < 0 {
			i = strings.Index(doc, "<Issuer")
		}
		if i < 0 {
			t.Fatal("no Issuer element to put the unstable element before")
		}
		doc = doc[:i] + "<x::Extra/>" + doc[i:]
		_, err := e.p.Complete(ctx, acsRequest(t, e.acs, form([]byte(doc), testState)), step.Pending)
		// Refused as XML, before any signature is looked at (SECURITY.md G6).
		if !errors.Is(err, providers.ErrInvalidResponse) || !strings.Contains(err.Error(), "invalid xml") {
			t.Fatalf("round-trip-unstable XML: %v", err)
		}
	})
	t.Run("G17 deflate bomb", func(t *testing.T) {
		step, _ := e.begin(t, testState)
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, flate.BestCompression)
		zeros := make([]byte, 1<<20)
		for range 256 { // 256 MiB inflated
			w.Write(zeros)
		}
		w.Close()
		bomb := base64.StdEncoding.EncodeToString(z.Bytes())
		r, _ := http.NewRequest(http.MethodGet, e.acs+"?"+url.Values{"SAMLResponse": {bomb}, "RelayState": {testState}}.Encode(), nil)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := e.p.Complete(ctx, r, step.Pending)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, providers.ErrInvalidResponse) {
			t.Fatalf("deflate bomb: %v", err)
		}
		if grown := after.TotalAlloc - before.TotalAlloc; grown > 32<<20 {
			t.Errorf("the bomb cost %d MiB of allocations: it was inflated", grown>>20)
		}
	})
}
