// Package browser drives a real headless Chromium through JusticeConnect's pages,
// with real relying parties on both sides of single sign-on: a Go RP (x/oauth2 and
// go-oidc) and Apache mod_auth_openidc; agents from a real OpenLDAP directory,
// lawyers from a real SimpleSAMLphp IdP and bailiffs from a real oidc-provider,
// whose own login forms are filled in the browser. Tests assert on what the pages
// show and on the claims the RPs received, and save a full-page screenshot of
// every page met (French and English) under $JC_ARTIFACTS (default
// testsuite/browser/artifacts, gitignored).
package browser
