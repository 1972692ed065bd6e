// Package metrics exposes the broker's Prometheus metrics on the administration
// listener, apart from the public OpenID Connect endpoints.
//
// Metrics owns its own registry (never the global one), so two brokers in one
// process (tests, the demo) do not collide and nothing registers behind its back.
// It counts HTTP requests per route pattern (never per raw path: the label set
// stays bounded whatever clients send), logins per provider and outcome, tokens
// per grant type, and whether the store answers. AdminMux serves /metrics,
// /healthz and /readyz.
//
// Place in the login flow: none; the broker calls Login when a login finishes and
// Token when the token endpoint issues tokens.
package metrics
