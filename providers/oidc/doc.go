// Package oidc is the broker's client of an upstream OpenID Provider: the bailiffs'
// chamber IdP (commissaires de justice), or any OP that speaks OpenID Connect Core 1.0
// with the authorization code flow. It is a providers.RedirectProvider (the browser
// leaves the broker for the upstream and comes back to the broker's callback), a
// providers.Refresher, a providers.TokenVerifier (RFC 8693 token exchange) and a
// providers.Logouter (RP-Initiated Logout).
//
// Place in the login flow: broker/login calls Begin when the user picks this provider
// in the chooser and sends the browser to Step.RedirectURL, keeping Step.Pending
// server-side in the flow; when the browser comes back to
// /login/callback/<provider>, broker/login hands the request and the pending bytes to
// Complete, then maps the Identity to claims (broker/mapping).
//
// Rules this package enforces, each pinned by a test (SECURITY.md §3.F, §3.K):
//
//   - F1, mix-up (RFC 9700 §2.1 and §4.4.2; RFC 9207): the configured issuer is
//     stored in Pending and compared; an authorization response carrying iss must
//     name exactly the configured issuer, and when discovery advertises
//     authorization_response_iss_parameter_supported the parameter is required
//     (RFC 9207 §2.4). The discovered issuer must equal the configured one exactly
//     (OpenID Connect Discovery §4.3) and the ID token's iss too (OIDC Core §3.1.3.7).
//   - F2, state (RFC 9700 §4.7): the state of the response must equal the one of
//     Pending. Single use is the broker's job: Pending is deleted with the flow.
//   - F3, nonce (RFC 9700 §4.5.3.2; OIDC Core §3.1.3.7 point 11): a fresh nonce per
//     login, kept in Pending and required in the ID token. Nothing from the token is
//     used before every check passed.
//   - F4, code injection (RFC 9700 §2.1.1; RFC 7636): PKCE with S256 on every login;
//     the verifier never leaves the broker before the code exchange.
//   - F5 (OIDC Core §3.1.3.7; go-jose rules, SECURITY.md §2.6): signatures are checked
//     with keys from the upstream's jwks_uri only (never a jwk, jku or x5u header),
//     under an allow-list of asymmetric algorithms (none and HS* can never be
//     configured), aud must contain the client_id (azp required with several
//     audiences), exp is required (go-jose would skip a missing one), iat is required
//     and not in the future.
//   - F6, same sub at two upstreams: Identity.Subject is the upstream sub verbatim;
//     the broker keys local identities by provider and subject (OIDC Core §16.15:
//     sub is unique only within an issuer), so two upstreams never share a person.
//
// Identity.Upstream holds the upstream refresh token, ID token (for id_token_hint at
// logout) and sid. It is provider-private: the broker stores it server-side and never
// releases it. Tokens are never logged.
package oidc
