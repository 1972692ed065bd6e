// Package e2e holds end-to-end tests of the whole broker against its real upstream
// peers: an in-process JusticeConnect over HTTPS whose providers are a throwaway
// OpenLDAP directory (slapd), a SimpleSAMLphp IdP and the bailiffs' oidc-provider
// (testsuite/peer). Every test is a full authorization code flow walked page by page
// with a cookie-jar browser, ending with a token exchange and userinfo. A missing
// peer fails the tests; nothing is skipped.
package e2e
