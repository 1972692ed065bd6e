// Package logout delivers OpenID Connect Back-Channel Logout 1.0 notices to the
// broker's clients and holds the logout cascade shared by every way a session
// ends: the person's own logout (RP-Initiated Logout at /session/end), an upstream
// provider's back-channel logout, and an administrator's revocation
// (justiceconnect sessions revoke).
//
// A notice is a row of the store's queue (storage.LogoutStore), one per (SSO
// session, client with a backchannel_logout_uri), so it survives a restart and is
// shared by every node. The logout token is minted at each attempt (it lives two
// minutes, §2.4 advises a short life) with the same signing keys as ID tokens.
// The end_session endpoint tries the new rows at once, in parallel and within a
// short deadline, before it redirects (SECURITY.md E1); what fails stays queued
// and the Queue's worker retries it with backoff, then gives up with an audit
// event. Several nodes sharing PostgreSQL claim rows with a lease, so a notice is
// not sent twice at once.
package logout
