-- 0008: an upstream back-channel logout token names the person's subject and/or
-- session (sid) at the upstream provider (OIDC Back-Channel Logout 1.0 §2.4).
-- The broker read every live session of the provider and matched the token in
-- Go, linear in the live sessions (10,000 of them: about 0.1 s per logout).
-- Sessions of the providers that send logout tokens now keep both keys, and
-- sso_sessions_upstream_subject replaces sso_sessions_provider: its (provider,
-- NULL) range still holds the other providers' sessions, in the same order as
-- before, and the sessions written before this migration (or by a node of the
-- previous release during a rolling upgrade), which the logout still matches
-- from their identity. Only sessions with an upstream sid enter the partial
-- index on it.
ALTER TABLE sso_sessions ADD COLUMN upstream_subject TEXT;
ALTER TABLE sso_sessions ADD COLUMN upstream_sid TEXT;
DROP INDEX sso_sessions_provider;
CREATE INDEX sso_sessions_upstream_subject ON sso_sessions (provider, upstream_subject);
CREATE INDEX sso_sessions_upstream_sid ON sso_sessions (provider, upstream_sid) WHERE upstream_sid IS NOT NULL;
