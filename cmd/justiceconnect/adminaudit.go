package main

import (
	"context"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// adminNow is the clock of administrative audit events (tests replace it).
var adminNow = time.Now

// recordAdmin appends the audit event of an administrative command: ev carries
// the type, outcome and target (ClientID, Subject or details); recordAdmin adds
// the action, the operator (the OS user running the command), "via": "cli" and
// the operator's --reason when given. It returns the append error, so that the
// command can say the action happened but was not recorded and exit 1.
func recordAdmin(ctx context.Context, store storage.AuditStore, ev storage.AuditEvent, action, reason string) error {
	if ev.Details == nil {
		ev.Details = map[string]string{}
	}
	ev.Details["action"] = action
	ev.Details["operator"] = sessionsOperator()
	ev.Details["via"] = "cli"
	if reason != "" {
		ev.Details["reason"] = reason
	}
	if ev.Time.IsZero() {
		ev.Time = adminNow().UTC()
	}
	return store.AppendAudit(context.WithoutCancel(ctx), &ev)
}
