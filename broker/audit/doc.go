// Package audit records security events (logins, tokens, logouts, administrative
// actions) in the store's append-only, hash-chained trail, separate from debug logs.
//
// Log.Record appends an event; the store assigns its Seq and chains it to the
// previous event with storage.AuditHash. Verify re-reads the trail and recomputes
// the chain to find a modified, deleted or reordered event (`justiceconnect audit
// verify`); Export writes the trail as JSON lines for archiving or a SIEM
// (`justiceconnect audit export`).
package audit
