// Package oidc is the broker's OpenID Connect provider: fosite wired with the
// broker's store, keys and sessions, and the endpoints of VOCABULARY.md — discovery,
// JWKS, /authorize (steps 1, 2 and 5 of the login flow in DESIGN.md), /token (6),
// /userinfo, /token/introspection, /token/revocation and /session/end.
//
// fosite validates the protocol; this package adds what fosite leaves to its user
// (SECURITY.md §2.3, §4): prompt=none without a session, max_age=0, acr
// requirements and step-up, RFC 9207 iss in authorization responses, RFC 9068 access
// tokens, userinfo, discovery, JWKS and RP-initiated logout.
package oidc
