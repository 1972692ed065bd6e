-- 0003: back-channel logout queue (OpenID Connect Back-Channel Logout 1.0 §2.5).
-- One row per (SSO session, client) notice still to deliver. The logout token is
-- minted at each attempt (it lives 2 minutes), so the row keeps what it is made of:
-- the broker's public subject (the client's own sub is derived at send time), the
-- sid and the client. A worker claims due rows by setting lease_until/lease (one
-- UPDATE ... RETURNING whose WHERE repeats the lease test, so two nodes never hold
-- one row), then deletes the row on success or sets next_attempt_at on failure.
-- Times are Unix nanoseconds.

CREATE TABLE logout_deliveries (
    id              TEXT PRIMARY KEY,
    session_id      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    uri             TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    lease           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_error      TEXT NOT NULL,
    UNIQUE (session_id, client_id)
);
CREATE INDEX logout_deliveries_next ON logout_deliveries (next_attempt_at);

-- Upstream back-channel logout looks sessions up by provider.
CREATE INDEX sso_sessions_provider ON sso_sessions (provider);
