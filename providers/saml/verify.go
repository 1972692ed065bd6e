package saml

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"
	csaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/justiceconnect/justiceconnect/providers"
)

const (
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"

	methodBearer = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	entityFormat = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
)

// allowedSignatureMethods are the XML-DSig signature algorithms accepted. SHA-1
// (rsa-sha1, ecdsa-sha1) is refused whatever the configuration (SECURITY.md G20).
var allowedSignatureMethods = map[string]bool{
	dsig.RSASHA256SignatureMethod:   true,
	dsig.RSASHA384SignatureMethod:   true,
	dsig.RSASHA512SignatureMethod:   true,
	dsig.ECDSASHA256SignatureMethod: true,
	dsig.ECDSASHA384SignatureMethod: true,
	dsig.ECDSASHA512SignatureMethod: true,
}

var allowedDigestMethods = map[string]bool{
	"http://www.w3.org/2001/04/xmlenc#sha256":       true,
	"http://www.w3.org/2001/04/xmldsig-more#sha384": true,
	"http://www.w3.org/2001/04/xmlenc#sha512":       true,
}

// strictVerifier is crewjam's SignatureVerifier hook: before goxmldsig verifies the
// signature, it requires exactly one ds:Signature child, one Reference pointing at
// the signed element itself (SAML Core §5.4.2; SECURITY.md G19) and no SHA-1.
type strictVerifier struct{}

func (strictVerifier) VerifySignature(vc *dsig.ValidationContext, el *etree.Element) error {
	var sigs []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == nsDSig {
			sigs = append(sigs, c)
		}
	}
	if len(sigs) != 1 {
		return fmt.Errorf("want one Signature in %s, got %d", el.Tag, len(sigs))
	}
	signedInfo := onlyChild(sigs[0], "SignedInfo", nsDSig)
	if signedInfo == nil {
		return errors.New("want one SignedInfo")
	}
	method := onlyChild(signedInfo, "SignatureMethod", nsDSig)
	if method == nil || !allowedSignatureMethods[method.SelectAttrValue("Algorithm", "")] {
		return errors.New("signature method refused (SHA-1 or unknown)")
	}
	var refs []*etree.Element
	for _, c := range signedInfo.ChildElements() {
		if c.Tag == "Reference" {
			refs = append(refs, c)
		}
	}
	if len(refs) != 1 {
		return fmt.Errorf("want one Reference, got %d", len(refs))
	}
	id := el.SelectAttrValue("ID", "")
	if id == "" || refs[0].SelectAttrValue("URI", "") != "#"+id {
		return errors.New("the Reference does not point at the signed element")
	}
	digest := onlyChild(refs[0], "DigestMethod", nsDSig)
	if digest == nil || !allowedDigestMethods[digest.SelectAttrValue("Algorithm", "")] {
		return errors.New("digest method refused (SHA-1 or unknown)")
	}
	if _, err := vc.Validate(el); err != nil {
		return fmt.Errorf("cannot validate signature on %s: %w", el.Tag, err)
	}
	return nil
}

// onlyChild returns the single child named tag in ns, or nil if there are none or
// several.
func onlyChild(el *etree.Element, tag, ns string) *etree.Element {
	var found *etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			if found != nil {
				return nil
			}
			found = c
		}
	}
	return found
}

// validateAudience is crewjam's ValidateAudienceRestriction hook. crewjam accepts an
// assertion without any AudienceRestriction; we require one, and every one must name
// us, since several restrictions all apply (SAML Core §2.5.1.4; SAML Profiles
// §4.1.4.2: the assertion "MUST contain an <AudienceRestriction> including the
// service provider's unique identifier"; SECURITY.md G10).
func (p *Provider) validateAudience(a *csaml.Assertion) error {
	if a.Conditions == nil || len(a.Conditions.AudienceRestrictions) == 0 {
		return errors.New("no AudienceRestriction")
	}
	for _, ar := range a.Conditions.AudienceRestrictions {
		if ar.Audience.Value != p.cfg.EntityID {
			return fmt.Errorf("AudienceRestriction for %q", ar.Audience.Value)
		}
	}
	return nil
}

// postCheck applies the rules crewjam v0.5.1 leaves to its caller (SECURITY.md §2.2)
// to the assertion crewjam accepted and the document it came in.
func (p *Provider) postCheck(raw []byte, a *csaml.Assertion, pend *pending, md *idpMetadata, now time.Time) error {
	// One assertion per Response, counted anywhere in the document (an Assertion in
	// Advice or in another element counts): crewjam returns the first valid one of
	// several, which signature wrapping exploits (SECURITY.md G3, G5).
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil || doc.Root() == nil {
		return invalid("response does not parse")
	}
	root := doc.Root()
	if root.Tag != "Response" || root.NamespaceURI() != nsProtocol {
		return invalid("root is not samlp:Response")
	}
	count := 0
	var walk func(*etree.Element)
	walk = func(e *etree.Element) {
		if (e.Tag == "Assertion" || e.Tag == "EncryptedAssertion") && e.NamespaceURI() == nsAssertion {
			count++
		}
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(root)
	if count != 1 {
		return invalid("%d assertions in the response, want exactly one", count)
	}

	// SAML Profiles §4.1.4.2: the Issuer is the IdP, with the entity format if any.
	if a.Issuer.Value != md.entity.EntityID || (a.Issuer.Format != "" && a.Issuer.Format != entityFormat) {
		return invalid("assertion issuer is not the IdP")
	}
	if a.IssueInstant.After(now.Add(csaml.MaxClockSkew)) {
		return invalid("assertion issued in the future")
	}
	if a.Subject == nil {
		return invalid("assertion without Subject")
	}
	// SAML Profiles §4.1.4.2 and §4.1.4.3: at least one bearer SubjectConfirmation
	// whose data has Recipient = ACS, NotOnOrAfter, and InResponseTo = our request.
	bearer := false
	for _, sc := range a.Subject.SubjectConfirmations {
		d := sc.SubjectConfirmationData
		if sc.Method != methodBearer || d == nil {
			continue
		}
		if d.Recipient != pend.ACS || d.InResponseTo != pend.RequestID || d.NotOnOrAfter.IsZero() {
			continue
		}
		if !now.Before(d.NotOnOrAfter.Add(csaml.MaxClockSkew)) {
			continue
		}
		if !d.NotBefore.IsZero() && d.NotBefore.After(now.Add(csaml.MaxClockSkew)) {
			continue
		}
		bearer = true
	}
	if !bearer {
		return invalid("no usable bearer SubjectConfirmation")
	}
	if a.Conditions == nil {
		return invalid("assertion without Conditions")
	}
	// SAML Profiles §4.1.4.2: "at least one assertion MUST contain an <AuthnStatement>".
	if len(a.AuthnStatements) == 0 {
		return invalid("assertion without AuthnStatement")
	}
	return nil
}

// replayExpiry is how long the assertion ID must be remembered: until the assertion
// can no longer be accepted, whichever limit ends last, plus the allowed skew.
func replayExpiry(a *csaml.Assertion) time.Time {
	latest := a.IssueInstant.Add(csaml.MaxIssueDelay)
	if a.Conditions != nil && a.Conditions.NotOnOrAfter.After(latest) {
		latest = a.Conditions.NotOnOrAfter
	}
	if a.Subject != nil {
		for _, sc := range a.Subject.SubjectConfirmations {
			if d := sc.SubjectConfirmationData; d != nil && d.NotOnOrAfter.After(latest) {
				latest = d.NotOnOrAfter
			}
		}
	}
	return latest.Add(csaml.MaxClockSkew)
}

// Authentication context classes (SAML Authn Context §3.4) and RFC 8176 amr values.
var classMethods = map[string][]string{
	"urn:oasis:names:tc:SAML:2.0:ac:classes:Password":                    {"pwd"},
	"urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport":  {"pwd"},
	"urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken":               {"otp"},
	"urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard":                   {"sc"},
	"urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI":                {"sc", "pin"},
	"urn:oasis:names:tc:SAML:2.0:ac:classes:SoftwarePKI":                 {"swk"},
	"urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract":     {"mfa"},
	"urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered": {"mfa"},
	"https://refeds.org/profile/mfa":                                     {"mfa"},
}

// Attribute names that carry the user's login name.
var usernameAttributes = []string{"uid", "urn:oid:0.9.2342.19200300.100.1.1"}

// identity turns the accepted assertion into the facts the broker maps.
func (p *Provider) identity(a *csaml.Assertion) (providers.Identity, error) {
	attrs := map[string][]string{}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			var values []string
			for _, v := range at.Values {
				if v.NameID != nil {
					values = append(values, v.NameID.Value)
				} else {
					values = append(values, v.Value)
				}
			}
			if at.Name != "" {
				attrs[at.Name] = append(attrs[at.Name], values...)
			}
			if at.FriendlyName != "" && at.FriendlyName != at.Name {
				attrs[at.FriendlyName] = append(attrs[at.FriendlyName], values...)
			}
		}
	}
	id := providers.Identity{Attributes: attrs}
	up := upstream{}
	if n := a.Subject.NameID; n != nil {
		up.NameID, up.NameIDFormat, up.NameQualifier, up.SPNameQualifier = n.Value, n.Format, n.NameQualifier, n.SPNameQualifier
	}
	if p.cfg.SubjectAttribute != "" {
		v := attrs[p.cfg.SubjectAttribute]
		if len(v) != 1 || v[0] == "" {
			return providers.Identity{}, invalid("subject attribute %q has %d values, want one", p.cfg.SubjectAttribute, len(v))
		}
		id.Subject = v[0]
	} else {
		n := a.Subject.NameID
		if n == nil || n.Value == "" {
			return providers.Identity{}, invalid("no NameID")
		}
		if n.Format != p.cfg.nameIDFormat() {
			return providers.Identity{}, invalid("NameID format %q, want %q", n.Format, p.cfg.nameIDFormat())
		}
		id.Subject = n.Value
	}
	for _, name := range usernameAttributes {
		if v := attrs[name]; len(v) > 0 {
			id.Username = v[0]
			break
		}
	}
	st := a.AuthnStatements[0]
	id.Authn.Time = st.AuthnInstant.UTC()
	up.SessionIndex = st.SessionIndex
	if ref := st.AuthnContext.AuthnContextClassRef; ref != nil {
		id.Authn.UpstreamACR = ref.Value
		id.Authn.Methods = append([]string(nil), classMethods[ref.Value]...)
	}
	b, err := json.Marshal(up)
	if err != nil {
		return providers.Identity{}, fmt.Errorf("saml: complete: %w", err)
	}
	id.Upstream = b
	return id, nil
}
