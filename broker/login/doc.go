// Package login is the browser side of authentication (steps 3 and 4 of the login
// flow in DESIGN.md): the chooser of providers, the password form, the round trip to
// a redirect provider (SAML, OIDC) and its callback, and the one finish function
// every style ends in: mapping to claims and acr, audit event, SSO session, flow
// authenticated with a single-use verifier, and a 303 back to /authorize/resume.
package login
