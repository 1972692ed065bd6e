package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// AuditHash computes an event's chain hash: SHA-256 over the previous event's hash
// and the event's content (everything but Seq and Hash). encoding/json sorts map
// keys, so the encoding is deterministic. Both stores call it inside the insert
// transaction, and `justiceconnect audit verify` calls it again to detect a
// modified, deleted or reordered event.
func AuditHash(prevHash string, e *AuditEvent) string {
	content := struct {
		Time     string            `json:"time"`
		Type     string            `json:"type"`
		Outcome  string            `json:"outcome,omitempty"`
		Subject  string            `json:"subject,omitempty"`
		ClientID string            `json:"client_id,omitempty"`
		Provider string            `json:"provider,omitempty"`
		Session  string            `json:"session,omitempty"`
		Request  string            `json:"request_id,omitempty"`
		Details  map[string]string `json:"details,omitempty"`
	}{e.Time.UTC().Format(time.RFC3339Nano), e.Type, e.Outcome, e.Subject, e.ClientID, e.Provider, e.Session, e.Request, e.Details}
	b, _ := json.Marshal(content) // cannot fail: strings and a string map
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
