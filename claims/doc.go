// Package claims is the JusticeConnect claims contract that partners and justice
// APIs code against, and the one source of truth the broker uses for it.
//
// Core claims are ProConnect's (sub, given_name, family_name, usual_name, name, email,
// uid, idp_id, idp_acr) with the same endpoint paths and acr strings, so a
// ProConnect integration needs minimal change. Justice data has its own names:
//
//	scope          claim            example
//	profession     profession       "magistrat"
//	profession     professional_id  "PA-2011-0042"
//	profession     organization     "Barreau de Paris"
//	profession     barreau          "Paris" (lawyers only)
//	jurisdictions  jurisdictions    ["TJ75101"]
//	justice_roles  justice_roles    ["juge_contentieux_protection@TJ75101"]
//
// Professions: magistrat, greffier, agent, avocat, commissaire_de_justice, notaire,
// mediateur, mandataire_judiciaire; an unknown upstream value gives no claim. Roles
// are scoped to a court ("juge@TJ75101") where they only hold there; national roles
// are unscoped. Court codes are CC, CA-<NAME> and TJ<INSEE of the seat>, from the
// reference list embedded here (juridictions.tsv, built from the Cour de cassation's
// Judilibre taxonomies); a claim never carries a code outside the list in force.
//
// Assurance: acr eidas1 < eidas2 < eidas3 (password; upstream MFA; smart card whose
// key is used in the TLS handshake). amr values are RFC 8176's.
//
// Access tokens are RFC 9068 JWTs (typ at+jwt) carrying the justice claims the
// client was released; token exchange (RFC 8693) adds act for delegation.
package claims
