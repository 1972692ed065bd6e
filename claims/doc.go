// Package claims is the JusticeConnect claims contract and the verifier that
// resource servers (justice APIs, partner platforms) use to check the access
// tokens the broker issues.
//
// It is its own Go module and imports only the standard library and go-jose v4,
// so a partner that imports it does not pull the broker's dependencies (fosite,
// LDAP, SAML) into its module graph. The broker imports the same names, so the
// contract lives in one place: this package. The rest of this comment is the
// contract itself (VOCABULARY.md).
//
// # Principles
//
//  1. An application that integrated ProConnect integrates JusticeConnect with
//     minimal change: same endpoint paths under the issuer
//     (/.well-known/openid-configuration, /authorize, /token, /userinfo,
//     /session/end, /jwks, /token/introspection, /token/revocation), same
//     parameter names (idp_hint, login_hint), same core claim names and acr
//     strings.
//  2. Justice data is new data under new names, never squeezed into a ProConnect
//     claim with another meaning (ProConnect's "roles" means public-agent status;
//     ours is "justice_roles").
//
// # Core claims (ProConnect-compatible)
//
//	scope     claims
//	openid    sub
//	profile   given_name, family_name, usual_name (= family name, as ProConnect names it), name
//	email     email
//	uid       uid (the identifier at the upstream)
//	idp_id    idp_id (which upstream the user came through)
//	idp_acr   idp_acr (the upstream's own assurance statement, verbatim)
//
// Always in the ID token: iss, aud, exp, iat, auth_time, acr, amr, sid, nonce
// (when sent). Userinfo is JSON, or a signed JWT when the client registered
// userinfo_signed_response_alg.
//
// sub is stable for a person across logins and across the ways they log in
// (password or smart card for the same directory entry give the same sub). It is
// never an e-mail address. Third-party (partner) clients get a pairwise sub by
// default (one value per sector identifier), so two partners cannot correlate
// users; ministry clients may be configured public.
//
// # Justice claims
//
//	scope          claim            type                                                    example
//	profession     profession       string, one of the professions below                    "magistrat"
//	profession     professional_id  agent matricule, lawyer's number, bailiff's office+id   "PA-2011-0042"
//	profession     organization     court, bar, office (étude) label                        "Barreau de Paris"
//	profession     barreau          string (lawyers only)                                   "Paris"
//	jurisdictions  jurisdictions    array of court codes from juridictions.tsv              ["TJ75101"]
//	justice_roles  justice_roles    array of "role" or "role@COURT" strings                 ["juge_contentieux_protection@TJ75101"]
//
// Professions ([Profession]): magistrat, greffier, agent (other ministry staff),
// avocat, commissaire_de_justice, notaire, mediateur, mandataire_judiciaire.
// Unknown upstream values map to nothing (no claim), never to a guess.
//
// Roles ([Role]) are scoped to a court where they only hold there: a judge of the
// TJ of Paris has juge@TJ75101, not juge. National roles are unscoped. Default
// role names for agents ([DefaultRoles]): president, juge, juge_instruction,
// juge_enfants, juge_application_peines, juge_libertes_detention,
// juge_contentieux_protection, procureur, substitut, greffier, directeur_greffe.
// Deployments map their directory groups onto these in configuration; the list is
// extensible by configuration, and a role that no rule produced is never issued.
//
// Court codes ([Courts]): CC (Cour de cassation), CA-<NAME> for courts of appeal
// (CA-PARIS), TJ<INSEE> for tribunaux judiciaires (TJ75101, Paris; the INSEE code
// of the seat, five characters, so Bourg-en-Bresse is TJ01053). The reference list
// is juridictions.tsv, embedded in this package ([DefaultCourts]), built from the
// Cour de cassation's public Judilibre taxonomies (judilibre_id keeps their
// identifier verbatim). A claim never carries a code that is not in the reference
// in force.
//
// # Assurance (acr) and methods (amr)
//
// acr values ([ACR]), ordered: eidas1 < eidas2 < eidas3 (ProConnect's strings).
//   - password at a directory or an upstream that asserts nothing more: eidas1
//   - upstream MFA (OTP, app): eidas2
//   - smart card with its key used in the TLS handshake: eidas3
//
// The broker decides the acr from facts (method, upstream statement) and from a
// per-upstream ceiling in configuration: it may lower what an upstream claims,
// never raise it. An unknown upstream acr value maps to the lowest level, never to
// an error. A request whose acr_values the current SSO session does not meet asks
// for a new login (step-up); one that no provider can meet returns
// unmet_authentication_requirements to the client.
//
// amr values are RFC 8176's: pwd, otp, mfa, sc, hwk, swk, pin, pop.
//
// # Tokens
//
//   - ID token: ES256 by default; RS256 supported. kid always set.
//   - Access token: JWT, header typ "at+jwt" (RFC 9068), aud = the API it is for,
//     client_id, scope, plus the justice claims the client was released.
//     Short-lived. Its shape is [Claims].
//   - Token exchange (RFC 8693): an API client trades a user's access token for
//     one aimed at another API, with equal or fewer scopes and claims. With an
//     actor_token, the new token carries act = the actor's sub and profession
//     (nested act for chains, [Actor]), issued only where a delegation in force
//     allows that actor to act for that subject.
//
// # Verifying access tokens
//
// A resource server builds one [Verifier] ([NewVerifier]) and either calls
// [Verifier.Verify] or wraps its handlers with [Verifier.Middleware], giving the
// [Requirement]s a route needs ([HasProfession], [HasRole], [InJurisdiction],
// [AtLeast], [HasScope], [All], [Any]). Handlers read the verified claims with
// [FromContext]. Tests mint tokens with the claimstest package.
//
// The verifier follows RFC 9068 §4 (typ at+jwt, iss exact, aud contains the
// API, exp required, signature with a key from the issuer's JWKS only), RFC 6750
// for the HTTP side (Authorization header only, WWW-Authenticate challenges), and
// RFC 7662 for opaque tokens when introspection is configured.
package claims
