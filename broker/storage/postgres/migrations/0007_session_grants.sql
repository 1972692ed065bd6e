-- 0007: logout finds a session's tokens through one row per grant instead of an
-- sso_session_id index on each token table. Those three indexes had a random key
-- (the SSO session ID): every token row written and every row the cleanup deleted
-- touched a random leaf of each, about 70 % of the cleanup's time on a store of a
-- million rows written in time order (docs/PERFORMANCE.md, "Session grants").
-- A trigger on each token table writes the grant row with the first token of a
-- grant issued in a stored session, whichever node or release writes the token
-- (a node of the previous release keeps serving during a rolling upgrade); the
-- row goes with its session (ON DELETE CASCADE), which the cleanup keeps an hour
-- past its end (storage.SessionRetention) so that logout still finds it. The
-- primary key starts with the session: its grants are one range of that index.
CREATE TABLE sso_session_grants (
    sso_session_id TEXT NOT NULL REFERENCES sso_sessions (id) ON DELETE CASCADE,
    request_id     TEXT NOT NULL,
    PRIMARY KEY (sso_session_id, request_id)
);

-- A session no longer stored gets no row: nothing revokes by it any more, and
-- the row would break the foreign key. The triggers come before the copy of the
-- stored grants: creating them waits for the transactions writing tokens, so the
-- copy sees every token written before and the triggers every one after.
CREATE FUNCTION record_session_grant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sso_session_grants (sso_session_id, request_id)
    SELECT NEW.sso_session_id, NEW.request_id
    WHERE EXISTS (SELECT 1 FROM sso_sessions WHERE id = NEW.sso_session_id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER oauth_codes_session_grant AFTER INSERT ON oauth_codes
FOR EACH ROW WHEN (NEW.sso_session_id IS NOT NULL) EXECUTE FUNCTION record_session_grant();
CREATE TRIGGER oauth_access_tokens_session_grant AFTER INSERT ON oauth_access_tokens
FOR EACH ROW WHEN (NEW.sso_session_id IS NOT NULL) EXECUTE FUNCTION record_session_grant();
CREATE TRIGGER oauth_refresh_tokens_session_grant AFTER INSERT ON oauth_refresh_tokens
FOR EACH ROW WHEN (NEW.sso_session_id IS NOT NULL) EXECUTE FUNCTION record_session_grant();

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
