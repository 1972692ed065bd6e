// Package harness starts a real JusticeConnect broker in-process behind an HTTPS
// test server (SQLite in a temp dir, static development users, test clients) and
// drives it like a browser would: a cookie jar, no automatic redirects, and helpers
// that walk the login pages. The conformance, security and RP tests build on it.
package harness
