-- 0005: the background cleanup deletes SSO sessions that ended or expired
-- (sqlstore.DeleteExpired: ended_at, absolute_expires_at, idle_expires_at, joined
-- by OR). Without an index on each column every cleanup batch scanned the whole
-- table: with a large backlog the cleanup fell behind the expiries.
CREATE INDEX sso_sessions_ended_at ON sso_sessions (ended_at);
CREATE INDEX sso_sessions_absolute_expires_at ON sso_sessions (absolute_expires_at);
CREATE INDEX sso_sessions_idle_expires_at ON sso_sessions (idle_expires_at);
