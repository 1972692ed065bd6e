// Package tokenexchange is RFC 8693 OAuth 2.0 Token Exchange as a fosite
// TokenEndpointHandler (fosite v0.49.0 has none, ory/fosite#863). An API client
// trades a user's access token for one aimed at another API, with equal or fewer
// scopes and a lifetime no longer than the original's; with an actor token, the new
// token carries act (RFC 8693 §4.1) and is issued only where a delegation in force
// allows that actor to act for that subject toward that audience.
package tokenexchange
