-- 0002: delegations (mandates) for RFC 8693 token exchange with an actor_token.
-- Times are Unix nanoseconds (BIGINT); NULL not_before / not_after leave that side open.

CREATE TABLE delegations (
    id         TEXT PRIMARY KEY,
    actor      TEXT NOT NULL,
    subject    TEXT NOT NULL,
    not_before BIGINT,
    not_after  BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL,
    reason     TEXT NOT NULL
);

CREATE INDEX delegations_subject ON delegations (subject);
CREATE INDEX delegations_actor_subject ON delegations (actor, subject);

CREATE TABLE delegation_audiences (
    delegation_id TEXT NOT NULL REFERENCES delegations (id) ON DELETE CASCADE,
    audience      TEXT NOT NULL,
    PRIMARY KEY (delegation_id, audience)
);
