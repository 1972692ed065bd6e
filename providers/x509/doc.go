// Package x509 is the CertificateProvider of the agent smart card: the broker's card
// origin (a TLS listener that asks for a client certificate, or a TLS-terminating
// proxy that forwards it in RFC 9440 Client-Cert fields, which broker/clientcert reads) hands
// it the chain the card presented, leaf first. It answers with the Identity of the
// card holder's directory entry, found through a providers.AttributeSource, so that
// the same person gets the same broker sub with a password or with the card (the
// broker groups both providers with subject_namespace).
//
// Place in the login flow: step 4 of DESIGN.md, the "certificate origin" style; the
// Identity goes to broker/mapping, which alone turns the Authn facts (amr "sc",
// "hwk", certificate policies) into an acr.
//
// Why the chain is verified here (SECURITY.md §3.I): the TLS handshake only proves
// that the client holds the private key of the leaf. The card listener may accept
// any certificate (RequestClientCert), a proxy may have been configured with other
// CAs, and crypto/tls would require the clientAuth extended key usage that many
// cards replace with Microsoft's smart card logon (golang/go#5987). So
// Authenticate validates the path itself (RFC 5280 §6) against its own trust
// anchors, at the provider's clock:
//
//   - validity periods (RFC 5280 §4.1.2.5), with not-yet-valid told apart from
//     expired for the user's message;
//   - the leaf is an end entity with the digitalSignature key usage (§4.2.1.3,
//     §4.2.1.9) and one of allowed_ekus (§4.2.1.12), which every CA of the path
//     that restricts extended key usages must also allow;
//   - when required_policies is set, the leaf asserts one of them and the path is
//     valid for it (§4.2.1.4, §6.1 with RFC 9618);
//   - revocation of the leaf and of every intermediate CA (§6.1.3 (a)(3)): Go
//     checks neither CRLs nor OCSP (golang/go#68573). OCSP (RFC 6960) is asked
//     first when the certificate names a responder; the response must be about
//     this serial, signed by the issuer or by a responder it certified for OCSP
//     signing (RFC 6960 §4.2.2.2), and current. Otherwise, or when OCSP fails,
//     the CRLs of the distribution points (§4.2.1.13) or of crl.urls are used:
//     each must verify under the certificate's issuer (§6.3.3), be complete (no
//     delta, no partition by reason, no indirect CRL, §5.2.4, §5.2.5), carry a
//     nextUpdate (§5.1.2.5) and a number that never goes down (§5.2.3). CRLs are
//     cached per URL and issuer and fetched again every crl.refresh or at their
//     nextUpdate. When no current answer can be had the login is refused
//     (revocation_unavailable), unless on_failure: use_last and the last answer
//     is less than grace past its nextUpdate.
//
// Mapping to the directory uses exactly one configured rule (SAN UPN, SAN
// rfc822Name, issuer+serial, subject serialNumber), whose single value is looked
// up exactly under mapping.lookup_key. There is no rule on the common name, and
// never a substring match (SECURITY.md I6).
//
// Errors: a refused certificate wraps ErrCertificateRejected and either
// providers.ErrBadCredentials or, for revocation_unavailable, providers.ErrUnavailable;
// RejectReason names the reason. No directory entry is providers.ErrUnknownUser, a
// directory failure providers.ErrUnavailable. Logs carry the subject DN, the serial
// and the reason, never whole certificates.
package x509
