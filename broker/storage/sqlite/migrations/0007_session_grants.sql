-- 0007: logout finds a session's tokens through one row per grant instead of an
-- sso_session_id index on each token table. Those three indexes had a random key
-- (the SSO session ID): every token row written and every row the cleanup deleted
-- touched a random leaf of each, about 70 % of the cleanup's time on a store of a
-- million rows written in time order (docs/PERFORMANCE.md, "Session grants").
-- A trigger on each token table writes the grant row with the first token of a
-- grant issued in a stored session, whichever node or release writes the token
-- (a node of the previous release keeps serving during a rolling upgrade); the
-- row goes with its session (ON DELETE CASCADE), which the cleanup keeps an hour
-- past its end (storage.SessionRetention) so that logout still finds it. Rows
-- are clustered by session (WITHOUT ROWID): a session's grants share a page.
CREATE TABLE sso_session_grants (
    sso_session_id TEXT NOT NULL REFERENCES sso_sessions (id) ON DELETE CASCADE,
    request_id     TEXT NOT NULL,
    PRIMARY KEY (sso_session_id, request_id)
) WITHOUT ROWID;

-- A session no longer stored gets no row: nothing revokes by it any more, and
-- the row would break the foreign key. Changes made by a trigger do not count in
-- the INSERT's own row count (the conflict check of sqlstore.createRequest).
CREATE TRIGGER oauth_codes_session_grant AFTER INSERT ON oauth_codes
WHEN NEW.sso_session_id IS NOT NULL
BEGIN
    INSERT INTO sso_session_grants (sso_session_id, request_id)
    SELECT NEW.sso_session_id, NEW.request_id
    WHERE EXISTS (SELECT 1 FROM sso_sessions WHERE id = NEW.sso_session_id)
    ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER oauth_access_tokens_session_grant AFTER INSERT ON oauth_access_tokens
WHEN NEW.sso_session_id IS NOT NULL
BEGIN
    INSERT INTO sso_session_grants (sso_session_id, request_id)
    SELECT NEW.sso_session_id, NEW.request_id
    WHERE EXISTS (SELECT 1 FROM sso_sessions WHERE id = NEW.sso_session_id)
    ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER oauth_refresh_tokens_session_grant AFTER INSERT ON oauth_refresh_tokens
WHEN NEW.sso_session_id IS NOT NULL
BEGIN
    INSERT INTO sso_session_grants (sso_session_id, request_id)
    SELECT NEW.sso_session_id, NEW.request_id
    WHERE EXISTS (SELECT 1 FROM sso_sessions WHERE id = NEW.sso_session_id)
    ON CONFLICT DO NOTHING;
END;

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
