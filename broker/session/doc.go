// Package session holds the two kinds of session the broker keeps.
//
// Session is fosite's session: it travels with an authorization code, access token or
// refresh token and carries the claims released to that client, the SSO session id
// (sid) and the facts of the authentication (acr, amr, auth_time).
//
// SSO is the browser's single sign-on session: a server-side record (so that logout
// really ends it) named by an encrypted, authenticated __Host- cookie, with idle and
// absolute timeouts. Step 1 and step 4 of the login flow (DESIGN.md) read and write it.
package session
