-- 0007: logout finds a session's tokens through one row per grant instead of an
-- sso_session_id index on each token table. Those three indexes had a random key
-- (the SSO session ID): every token row written and every row the cleanup deleted
-- touched a random leaf of each, about 70 % of the cleanup's time on a store of a
-- million rows written in time order (docs/PERFORMANCE.md, "Session grants").
-- A grant row is written with the first token of a grant issued in a session
-- (sqlstore.createRequest) and goes with its session (ON DELETE CASCADE): logout
-- and the admin's revocation only ever name a stored session. Rows are clustered
-- by session (WITHOUT ROWID), so a session's grants share a page.
CREATE TABLE sso_session_grants (
    sso_session_id TEXT NOT NULL REFERENCES sso_sessions (id) ON DELETE CASCADE,
    request_id     TEXT NOT NULL,
    PRIMARY KEY (sso_session_id, request_id)
) WITHOUT ROWID;

-- The grants of the tokens already stored, for the sessions still stored.
INSERT INTO sso_session_grants (sso_session_id, request_id)
SELECT t.sso_session_id, t.request_id FROM (
    SELECT sso_session_id, request_id FROM oauth_codes WHERE sso_session_id IS NOT NULL
    UNION SELECT sso_session_id, request_id FROM oauth_access_tokens WHERE sso_session_id IS NOT NULL
    UNION SELECT sso_session_id, request_id FROM oauth_refresh_tokens WHERE sso_session_id IS NOT NULL
) t WHERE t.sso_session_id IN (SELECT id FROM sso_sessions);

-- Logout now revokes codes by request ID; the ID is time-ordered (oidc
-- newRequestID), so this index grows at its right edge.
CREATE INDEX oauth_codes_request_id ON oauth_codes (request_id);
DROP INDEX IF EXISTS oauth_codes_sso_session_id;
DROP INDEX IF EXISTS oauth_access_tokens_sso_session_id;
DROP INDEX IF EXISTS oauth_refresh_tokens_sso_session_id;
