// Package claimstest mints JusticeConnect access tokens for resource servers'
// tests: an Issuer holds a throwaway ES256 key generated at test time and serves
// its JWKS from an httptest server, so a claims.Verifier pointed at it behaves as
// against the real broker. It also makes malformed and hostile tokens (wrong
// typ, embedded keys, missing claims) and rotates keys, for testing refusals.
//
// Never use it outside tests: its keys are generated in memory and its server
// listens on 127.0.0.1 only.
package claimstest
