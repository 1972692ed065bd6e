// Package api tests a resource server end to end against a running broker: the
// example API (cmd/example-api, package enfance) guarded by the claims
// middleware, called with tokens the harness broker issued through a real code
// flow and an RFC 8693 token exchange, and with tokens it must refuse.
package api
