// Package peer starts the real third-party software the testsuite talks to (OpenLDAP
// slapd, SimpleSAMLphp, oidc-provider, openid-client, Apache mod_auth_openidc,
// PostgreSQL, Chromium) as local processes on 127.0.0.1, each in a temporary
// directory, and stops them when the test ends. A peer that cannot start fails the
// test: the testsuite never skips because software is missing (install it with
// testsuite/scripts/install-peers.sh).
package peer
