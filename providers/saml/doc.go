// Package saml is the RedirectProvider for a SAML 2.0 identity provider, the bar's
// IdP for lawyers. The broker is the service provider (SP); this package speaks the
// Web Browser SSO Profile (SAML Profiles §4.1) with an AuthnRequest sent by the
// HTTP-Redirect binding (SAML Bindings §3.4) and a Response received by the HTTP-POST
// binding (SAML Bindings §3.5). IdP-initiated (unsolicited) responses are refused.
//
// Place in the login flow: broker/login calls Begin when the user picks the bar's IdP
// and redirects the browser to Step.RedirectURL, keeping Step.Pending (the request ID,
// its issue time, the ACS URL and a hash of the RelayState) in the flow record; the
// RelayState is the broker's opaque flow state, never a URL (SECURITY.md G21). When the
// IdP POSTs back to the callback, the broker calls Complete with the parsed request and
// the pending bytes, and Complete returns an Identity or an error wrapping
// providers.ErrInvalidResponse (or providers.ErrCancelled).
//
// The XML security itself is crewjam/saml's ServiceProvider (not samlsp: its cookie
// request tracker breaks on the cross-site POST) on goxmldsig >= 1.6.1. Complete adds
// the checks crewjam v0.5.1 leaves to the caller (SECURITY.md §2.2 and §3.G):
//
//   - body and SAMLResponse size bounded (max_response_bytes), POST binding only, no
//     artifact resolution;
//   - exactly one Assertion or EncryptedAssertion in the whole document (G3, G5);
//   - SHA-1 signature and digest methods refused, one Reference per signature, bound
//     to the signed element (G19, G20), through a SignatureVerifier wrapper;
//   - an AudienceRestriction naming our entity ID is required (G10; crewjam accepts
//     none, SAML Profiles §4.1.4.2);
//   - at least one bearer SubjectConfirmation with Recipient = ACS, NotOnOrAfter and
//     InResponseTo = our request ID (G13; crewjam checks nothing when there is none,
//     SAML Profiles §4.1.4.2 and §4.1.4.3);
//   - an AuthnStatement is required (SAML Profiles §4.1.4.2);
//   - the request ID and the assertion ID are used once, through the ReplayCache,
//     until the assertion's NotOnOrAfter plus the allowed skew (G11, G14; SAML
//     Profiles §4.1.4.5).
//
// crewjam's time limits (MaxIssueDelay 90 s, MaxClockSkew 180 s) and clock
// (saml.TimeNow) are package globals of that library: this package reads them and
// never changes them.
//
// The IdP metadata comes from a file or a URL and is reloaded every
// metadata_refresh, lazily, when Begin or Check runs; a failed reload keeps the last
// good copy and Check reports the failure. Logout sends a LogoutRequest by the
// HTTP-Redirect binding (SAML Profiles §4.4) when the IdP metadata has a
// SingleLogoutService, for the NameID and SessionIndex kept in Identity.Upstream.
//
// Logs never contain assertions or responses: crewjam's private error detail is
// logged at debug level only, without the document.
package saml
