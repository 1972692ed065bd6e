// Package storagetest is the conformance suite every storage.Store implementation
// must pass (sqlite and postgres run it in their tests). Beyond round trips it pins
// the behaviour fosite's security relies on (SECURITY.md §2.3 and §4 item 9):
// an invalidated authorization code comes back with its requester and
// fosite.ErrInvalidatedAuthorizeCode (B1), two concurrent redemptions of one code
// give exactly one success (B2), a rotated refresh token stays as an inactive row
// reported with fosite.ErrInactiveToken (B16), logout revokes the tokens of an SSO
// session (B19), client-assertion jti replay is fosite.ErrJTIKnown, and the audit
// trail is one hash chain even under concurrent appends.
package storagetest
