// Package release decides what each client receives: the sub (public, or pairwise per
// sector identifier for partners, OIDC Core 8.1) and the claims its granted scopes
// release (VOCABULARY.md scope table). Step 5 of the login flow calls it.
package release
