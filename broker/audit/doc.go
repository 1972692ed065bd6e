// Package audit records security events (logins, tokens, logouts, administrative
// actions) in the store's append-only, hash-chained trail, separate from debug logs.
package audit
