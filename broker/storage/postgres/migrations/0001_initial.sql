-- 0001: initial schema. Times are Unix nanoseconds (BIGINT); JSON is TEXT.

CREATE TABLE clients (
    id   TEXT PRIMARY KEY,
    data TEXT NOT NULL
);

CREATE TABLE oauth_codes (
    signature          TEXT PRIMARY KEY,
    request_id         TEXT NOT NULL,
    requested_at       BIGINT NOT NULL,
    client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes             TEXT NOT NULL,
    granted_scopes     TEXT NOT NULL,
    requested_audience TEXT NOT NULL,
    granted_audience   TEXT NOT NULL,
    form               TEXT NOT NULL,
    session            TEXT NOT NULL,
    subject            TEXT NOT NULL,
    sso_session_id     TEXT,
    offline            BOOLEAN NOT NULL,
    active             BOOLEAN NOT NULL,
    expires_at         BIGINT
);
CREATE INDEX oauth_codes_request_id ON oauth_codes (request_id);
CREATE INDEX oauth_codes_sso_session_id ON oauth_codes (sso_session_id);
CREATE INDEX oauth_codes_expires_at ON oauth_codes (expires_at);
CREATE INDEX oauth_codes_client_id ON oauth_codes (client_id);

CREATE TABLE oauth_access_tokens (
    signature          TEXT PRIMARY KEY,
    request_id         TEXT NOT NULL,
    requested_at       BIGINT NOT NULL,
    client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes             TEXT NOT NULL,
    granted_scopes     TEXT NOT NULL,
    requested_audience TEXT NOT NULL,
    granted_audience   TEXT NOT NULL,
    form               TEXT NOT NULL,
    session            TEXT NOT NULL,
    subject            TEXT NOT NULL,
    sso_session_id     TEXT,
    offline            BOOLEAN NOT NULL,
    active             BOOLEAN NOT NULL,
    expires_at         BIGINT
);
CREATE INDEX oauth_access_tokens_request_id ON oauth_access_tokens (request_id);
CREATE INDEX oauth_access_tokens_sso_session_id ON oauth_access_tokens (sso_session_id);
CREATE INDEX oauth_access_tokens_expires_at ON oauth_access_tokens (expires_at);
CREATE INDEX oauth_access_tokens_client_id ON oauth_access_tokens (client_id);

CREATE TABLE oauth_refresh_tokens (
    signature          TEXT PRIMARY KEY,
    request_id         TEXT NOT NULL,
    requested_at       BIGINT NOT NULL,
    client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes             TEXT NOT NULL,
    granted_scopes     TEXT NOT NULL,
    requested_audience TEXT NOT NULL,
    granted_audience   TEXT NOT NULL,
    form               TEXT NOT NULL,
    session            TEXT NOT NULL,
    subject            TEXT NOT NULL,
    sso_session_id     TEXT,
    offline            BOOLEAN NOT NULL,
    active             BOOLEAN NOT NULL,
    expires_at         BIGINT,
    access_signature   TEXT
);
CREATE INDEX oauth_refresh_tokens_request_id ON oauth_refresh_tokens (request_id);
CREATE INDEX oauth_refresh_tokens_sso_session_id ON oauth_refresh_tokens (sso_session_id);
CREATE INDEX oauth_refresh_tokens_expires_at ON oauth_refresh_tokens (expires_at);
CREATE INDEX oauth_refresh_tokens_client_id ON oauth_refresh_tokens (client_id);

CREATE TABLE oauth_pkce (
    signature          TEXT PRIMARY KEY,
    request_id         TEXT NOT NULL,
    requested_at       BIGINT NOT NULL,
    client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes             TEXT NOT NULL,
    granted_scopes     TEXT NOT NULL,
    requested_audience TEXT NOT NULL,
    granted_audience   TEXT NOT NULL,
    form               TEXT NOT NULL,
    session            TEXT NOT NULL,
    subject            TEXT NOT NULL,
    sso_session_id     TEXT,
    offline            BOOLEAN NOT NULL,
    active             BOOLEAN NOT NULL,
    expires_at         BIGINT
);
CREATE INDEX oauth_pkce_request_id ON oauth_pkce (request_id);
CREATE INDEX oauth_pkce_sso_session_id ON oauth_pkce (sso_session_id);
CREATE INDEX oauth_pkce_expires_at ON oauth_pkce (expires_at);
CREATE INDEX oauth_pkce_client_id ON oauth_pkce (client_id);

CREATE TABLE oauth_oidc (
    signature          TEXT PRIMARY KEY,
    request_id         TEXT NOT NULL,
    requested_at       BIGINT NOT NULL,
    client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes             TEXT NOT NULL,
    granted_scopes     TEXT NOT NULL,
    requested_audience TEXT NOT NULL,
    granted_audience   TEXT NOT NULL,
    form               TEXT NOT NULL,
    session            TEXT NOT NULL,
    subject            TEXT NOT NULL,
    sso_session_id     TEXT,
    offline            BOOLEAN NOT NULL,
    active             BOOLEAN NOT NULL,
    expires_at         BIGINT
);
CREATE INDEX oauth_oidc_request_id ON oauth_oidc (request_id);
CREATE INDEX oauth_oidc_sso_session_id ON oauth_oidc (sso_session_id);
CREATE INDEX oauth_oidc_expires_at ON oauth_oidc (expires_at);
CREATE INDEX oauth_oidc_client_id ON oauth_oidc (client_id);

CREATE TABLE client_assertion_jti (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX client_assertion_jti_expires_at ON client_assertion_jti (expires_at);

CREATE TABLE flows (
    id         TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    data       BYTEA,
    created_at BIGINT,
    expires_at BIGINT,
    version    BIGINT NOT NULL
);
CREATE INDEX flows_expires_at ON flows (expires_at);

CREATE TABLE sso_sessions (
    id                  TEXT PRIMARY KEY,
    subject             TEXT NOT NULL,
    provider            TEXT NOT NULL,
    acr                 TEXT NOT NULL,
    amr                 TEXT NOT NULL,
    auth_time           BIGINT,
    created_at          BIGINT,
    last_seen_at        BIGINT,
    idle_expires_at     BIGINT,
    absolute_expires_at BIGINT,
    identity            BYTEA,
    ended_at            BIGINT
);
CREATE INDEX sso_sessions_subject ON sso_sessions (subject);

CREATE TABLE sso_session_clients (
    seq BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sso_sessions (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    UNIQUE (session_id, client_id)
);

CREATE TABLE consents (
    subject    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    granted_at BIGINT,
    revoked_at BIGINT,
    PRIMARY KEY (subject, client_id)
);

CREATE TABLE signing_keys (
    id             TEXT PRIMARY KEY,
    use            TEXT NOT NULL,
    alg            TEXT NOT NULL,
    state          TEXT NOT NULL,
    private_sealed BYTEA,
    public_jwk     BYTEA,
    created_at     BIGINT,
    activated_at   BIGINT,
    retired_at     BIGINT,
    retire_until   BIGINT
);

CREATE TABLE used_markers (
    namespace  TEXT NOT NULL,
    marker     TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, marker)
);
CREATE INDEX used_markers_expires_at ON used_markers (expires_at);

CREATE TABLE audit_events (
    seq        BIGINT PRIMARY KEY,
    time       BIGINT NOT NULL,
    type       TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    subject    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    provider   TEXT NOT NULL,
    session_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    details    TEXT,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (time);
