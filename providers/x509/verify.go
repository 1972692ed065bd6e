package x509

import (
	"context"
	stdx509 "crypto/x509"
	"errors"
	"fmt"
	"time"
)

// extKeyUsageOIDs are the dotted OIDs of the extended key usages crypto/x509 parses
// into constants (RFC 5280 §4.2.1.12 and vendor OIDs), so that allowed_ekus can be
// compared with both ExtKeyUsage and UnknownExtKeyUsage.
var extKeyUsageOIDs = map[stdx509.ExtKeyUsage]string{
	stdx509.ExtKeyUsageAny:                            EKUAny,
	stdx509.ExtKeyUsageServerAuth:                     "1.3.6.1.5.5.7.3.1",
	stdx509.ExtKeyUsageClientAuth:                     EKUClientAuth,
	stdx509.ExtKeyUsageCodeSigning:                    "1.3.6.1.5.5.7.3.3",
	stdx509.ExtKeyUsageEmailProtection:                "1.3.6.1.5.5.7.3.4",
	stdx509.ExtKeyUsageIPSECEndSystem:                 "1.3.6.1.5.5.7.3.5",
	stdx509.ExtKeyUsageIPSECTunnel:                    "1.3.6.1.5.5.7.3.6",
	stdx509.ExtKeyUsageIPSECUser:                      "1.3.6.1.5.5.7.3.7",
	stdx509.ExtKeyUsageTimeStamping:                   "1.3.6.1.5.5.7.3.8",
	stdx509.ExtKeyUsageOCSPSigning:                    "1.3.6.1.5.5.7.3.9",
	stdx509.ExtKeyUsageMicrosoftServerGatedCrypto:     "1.3.6.1.4.1.311.10.3.3",
	stdx509.ExtKeyUsageNetscapeServerGatedCrypto:      "2.16.840.1.113730.4.1",
	stdx509.ExtKeyUsageMicrosoftCommercialCodeSigning: "1.3.6.1.4.1.311.2.1.22",
	stdx509.ExtKeyUsageMicrosoftKernelCodeSigning:     "1.3.6.1.4.1.311.61.1.1",
}

// ekusOf returns the dotted extended key usages of c.
func ekusOf(c *stdx509.Certificate) map[string]bool {
	out := map[string]bool{}
	for _, u := range c.ExtKeyUsage {
		if oid, ok := extKeyUsageOIDs[u]; ok {
			out[oid] = true
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		out[oid.String()] = true
	}
	return out
}

// verify validates the path from chain[0] to a trust anchor (RFC 5280 §6) at now,
// then the leaf's usages and policies, then revocation of every certificate of
// the path but the anchor. It returns the verified path, leaf first.
func (p *Provider) verify(ctx context.Context, chain []*stdx509.Certificate, now time.Time) ([]*stdx509.Certificate, error) {
	if len(chain) == 0 || chain[0] == nil {
		return nil, reject(ReasonMissing, "no client certificate")
	}
	if len(chain) > maxChainLength {
		return nil, reject(ReasonUntrusted, fmt.Sprintf("%d certificates sent, at most %d", len(chain), maxChainLength))
	}
	leaf := chain[0]
	// crypto/x509 reports both ends of the validity period as Expired; tell them
	// apart for the user's message (RFC 5280 §4.1.2.5).
	if now.Before(leaf.NotBefore) {
		return nil, reject(ReasonNotYetValid, "valid from "+leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return nil, reject(ReasonExpired, "expired at "+leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	inter := stdx509.NewCertPool()
	for _, c := range p.inter {
		inter.AddCert(c)
	}
	for _, c := range chain[1:] {
		if c != nil {
			inter.AddCert(c)
		}
	}
	// Extended key usages are checked below: crypto/x509 only knows the constants
	// it parses, and smart card logon is not one of them.
	opts := stdx509.VerifyOptions{
		Roots:               p.roots,
		Intermediates:       inter,
		CurrentTime:         now,
		KeyUsages:           []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageAny},
		CertificatePolicies: p.policies,
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return nil, p.verifyError(err, now)
	}
	if leaf.IsCA {
		return nil, reject(ReasonWrongUsage, "the certificate is a CA certificate")
	}
	// RFC 5280 §4.2.1.3: a client authenticates by signing the TLS handshake.
	if leaf.KeyUsage&stdx509.KeyUsageDigitalSignature == 0 {
		return nil, reject(ReasonWrongUsage, "no digitalSignature key usage")
	}
	if len(p.policyNames) > 0 && !p.assertsPolicy(leaf) {
		return nil, reject(ReasonPolicy, fmt.Sprintf("none of the required policies among %v", leaf.Policies))
	}
	var path []*stdx509.Certificate
	for _, c := range chains {
		if p.usageAllowed(c) {
			path = c
			break
		}
	}
	if path == nil {
		return nil, reject(ReasonWrongUsage, "no allowed extended key usage (clientAuth or smart card logon) valid along the chain")
	}
	if err := p.checkRevocation(ctx, path, now); err != nil {
		return nil, err
	}
	return path, nil
}

// assertsPolicy reports whether the leaf asserts one of the required policies.
// crypto/x509's policy validation alone accepts a chain whose CAs carry no
// policies at all (no requireExplicitPolicy), so the leaf is checked here too.
func (p *Provider) assertsPolicy(leaf *stdx509.Certificate) bool {
	for _, oid := range leaf.Policies {
		if p.policyNames[oid.String()] {
			return true
		}
	}
	return false
}

// usageAllowed reports whether the leaf of path carries an allowed extended key
// usage that every CA of the path also allows when it restricts them. The
// restriction by CAs is not RFC 5280's but crypto/x509's and the CA/Browser
// Forum's practice; kept so that a CA restricted to, say, e-mail protection
// cannot issue login cards.
func (p *Provider) usageAllowed(path []*stdx509.Certificate) bool {
	leaf := ekusOf(path[0])
	var ok []string
	for oid := range leaf {
		if p.ekus[oid] {
			ok = append(ok, oid)
		}
	}
	for _, ca := range path[1:] {
		cas := ekusOf(ca)
		if len(cas) == 0 || cas[EKUAny] {
			continue
		}
		kept := ok[:0]
		for _, oid := range ok {
			if cas[oid] {
				kept = append(kept, oid)
			}
		}
		ok = kept
	}
	return len(ok) > 0
}

// verifyError turns a crypto/x509 error into a rejection.
func (p *Provider) verifyError(err error, now time.Time) error {
	var inv stdx509.CertificateInvalidError
	if errors.As(err, &inv) {
		switch inv.Reason {
		case stdx509.Expired:
			if inv.Cert != nil && now.Before(inv.Cert.NotBefore) {
				return reject(ReasonNotYetValid, err.Error())
			}
			return reject(ReasonExpired, err.Error())
		case stdx509.NoValidChains:
			// EKUs are not checked by Verify (ExtKeyUsageAny), so only policies
			// leave no valid chain.
			if len(p.policies) > 0 {
				return reject(ReasonPolicy, err.Error())
			}
		case stdx509.IncompatibleUsage:
			return reject(ReasonWrongUsage, err.Error())
		}
	}
	return reject(ReasonUntrusted, err.Error())
}
