-- 0004: where the audit trail starts once old events are pruned (audit.retention).
-- One row (id = 1): the seq, hash and time of the last pruned event. The first
-- kept event must carry that hash as its prev_hash, so `justiceconnect audit
-- verify` still proves that nothing was deleted, modified or reordered after it.
-- pruned counts every event pruned so far; times are Unix nanoseconds.

CREATE TABLE audit_checkpoint (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    time      BIGINT NOT NULL,
    pruned    BIGINT NOT NULL,
    pruned_at BIGINT NOT NULL
);
