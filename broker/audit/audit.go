package audit

import (
	"context"
	"log/slog"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// Event types.
const (
	Login       = "login"
	TokenIssued = "token.issued"
	Refresh     = "token.refreshed"
	Revocation  = "token.revoked"
	Logout      = "logout"
	Consent     = "consent"
	ClientAdmin = "admin.client"
	KeyAdmin    = "admin.key"
	// SessionRevoked is an administrator ending a subject's SSO session and revoking
	// its tokens (`justiceconnect sessions revoke`).
	SessionRevoked = "admin.session_revoked"
	// DelegationAdmin is an administrator adding, listing or revoking delegations
	// (`justiceconnect delegations`).
	DelegationAdmin = "admin.delegation"
	// AuditPruned is events older than audit.retention deleted (`justiceconnect
	// audit prune` or the broker's cleanup); its details name the checkpoint.
	AuditPruned = "admin.audit_pruned"
	// AuditExported is an administrator exporting the trail (`justiceconnect audit
	// export`).
	AuditExported = "admin.audit_exported"
	// Migration is an administrator applying schema migrations (`justiceconnect
	// migrate`).
	Migration   = "admin.migration"
	Exchange    = "token.exchanged"
	Authorize   = "authorize"
	OutcomeOK   = "success"
	OutcomeFail = "failure"
	OutcomeDeny = "denied"
)

// Log writes events to the store.
type Log struct {
	Store  storage.AuditStore
	Logger *slog.Logger
	Now    func() time.Time
}

// Record appends e, stamping its time. A failure to write is logged at error level:
// the request that caused the event has already happened and is not undone. A nil
// Now means time.Now and a nil Logger slog.Default().
func (l *Log) Record(ctx context.Context, e storage.AuditEvent) {
	if l == nil || l.Store == nil {
		return
	}
	if e.Time.IsZero() {
		now := l.Now
		if now == nil {
			now = time.Now
		}
		e.Time = now().UTC()
	}
	if err := l.Store.AppendAudit(context.WithoutCancel(ctx), &e); err != nil {
		logger := l.Logger
		if logger == nil {
			logger = slog.Default()
		}
		logger.Error("audit: event not recorded", "type", e.Type, "err", err)
	}
}
