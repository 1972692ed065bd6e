// Package broker assembles JusticeConnect: it opens the store, loads keys, builds the
// upstream providers' login entries, the OIDC server and the login pages, and serves
// them behind the broker's middleware (request IDs, security headers, CSRF
// protection, body limits). broker.go is the only place that wires the areas
// together.
package broker
