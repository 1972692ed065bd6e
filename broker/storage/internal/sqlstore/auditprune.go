package sqlstore

import (
	"context"
	"strconv"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

var _ storage.AuditPruner = (*Store)(nil)

// PruneAudit implements storage.AuditPruner. The events deleted are a prefix of
// the chain in Seq order: an event stamped before `before` but chained after one
// that is not (Log.Record stamps the time before taking the chain lock) waits for
// the next prune, so the kept events never have a hole.
func (s *Store) PruneAudit(ctx context.Context, before time.Time, e *storage.AuditEvent) (storage.AuditCheckpoint, int64, bool, error) {
	const op = "prune audit events"
	var cp storage.AuditCheckpoint
	var deleted int64
	var ok bool
	err := s.inTx(ctx, op, func(ctx context.Context, q Querier) error {
		if err := s.b.LockAuditChain(ctx, q); err != nil {
			return s.wrap(op, err)
		}
		var err error
		if cp, ok, err = s.auditCheckpoint(ctx, q); err != nil {
			return err
		}
		var minSeq, maxSeq *int64
		if err := q.QueryRow(ctx, "SELECT MIN(seq), MAX(seq) FROM audit_events").Scan(&minSeq, &maxSeq); err != nil {
			return s.wrap(op, err)
		}
		if maxSeq == nil {
			return nil
		}
		// The cut is the event before the first one that is not old enough, and at
		// most the one before the head.
		cut := *maxSeq - 1
		var firstKept *int64
		if err := q.QueryRow(ctx, "SELECT MIN(seq) FROM audit_events WHERE time >= ?", before.UnixNano()).Scan(&firstKept); err != nil {
			return s.wrap(op, err)
		}
		if firstKept != nil {
			cut = min(cut, *firstKept-1)
		}
		if cut < *minSeq {
			return nil
		}
		var last storage.AuditCheckpoint
		var t int64
		if err := q.QueryRow(ctx, "SELECT seq, hash, time FROM audit_events WHERE seq <= ? ORDER BY seq DESC LIMIT 1", cut).Scan(&last.Seq, &last.Hash, &t); err != nil {
			return s.wrap(op, err)
		}
		last.Time = time.Unix(0, t).UTC()
		n, err := q.Exec(ctx, "DELETE FROM audit_events WHERE seq <= ?", cut)
		if err != nil {
			return s.wrap(op, err)
		}
		now := s.opts.Now().UTC()
		last.Pruned, last.PrunedAt = cp.Pruned+n, now
		if _, err := q.Exec(ctx, "INSERT INTO audit_checkpoint (id, seq, hash, time, pruned, pruned_at) VALUES (1, ?, ?, ?, ?, ?)"+
			" ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, time = excluded.time,"+
			" pruned = excluded.pruned, pruned_at = excluded.pruned_at",
			last.Seq, last.Hash, t, last.Pruned, now.UnixNano()); err != nil {
			return s.wrap(op, err)
		}
		cp, deleted, ok = last, n, true
		if e == nil {
			return nil
		}
		if e.Details == nil {
			e.Details = map[string]string{}
		}
		e.Details[storage.AuditCheckpointSeq] = strconv.FormatInt(last.Seq, 10)
		e.Details[storage.AuditCheckpointHash] = last.Hash
		e.Details[storage.AuditPrunedCount] = strconv.FormatInt(n, 10)
		// AppendAudit joins this transaction (inTx nests through ctx).
		return s.AppendAudit(ctx, e)
	})
	if err != nil {
		return storage.AuditCheckpoint{}, 0, false, err
	}
	return cp, deleted, ok, nil
}

// AuditCheckpoint implements storage.AuditPruner.
func (s *Store) AuditCheckpoint(ctx context.Context) (storage.AuditCheckpoint, bool, error) {
	return s.auditCheckpoint(ctx, s.reader(ctx))
}

func (s *Store) auditCheckpoint(ctx context.Context, q Querier) (storage.AuditCheckpoint, bool, error) {
	const op = "read audit checkpoint"
	var cp storage.AuditCheckpoint
	var t, at int64
	err := q.QueryRow(ctx, "SELECT seq, hash, time, pruned, pruned_at FROM audit_checkpoint WHERE id = 1").Scan(&cp.Seq, &cp.Hash, &t, &cp.Pruned, &at)
	if s.b.IsNoRows(err) {
		return storage.AuditCheckpoint{}, false, nil
	}
	if err != nil {
		return storage.AuditCheckpoint{}, false, s.wrap(op, err)
	}
	cp.Time, cp.PrunedAt = time.Unix(0, t).UTC(), time.Unix(0, at).UTC()
	return cp, true, nil
}
