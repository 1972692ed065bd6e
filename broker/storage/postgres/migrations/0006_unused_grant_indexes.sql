-- 0006: drop the indexes no query uses. Codes, PKCE and OpenID Connect sessions
-- are read and deleted by signature only; logout revokes by SSO session the
-- access and refresh tokens and the codes (sqlstore.RevokeTokensOfSession), and
-- revocation by request ID (RFC 7009, refresh rotation) touches the access and
-- refresh tokens only. Each of these indexes has a random key, so every SSO code
-- flow paid five extra B-tree inserts and five deletes at random pages, which
-- grows with the store (docs/PERFORMANCE.md, "Rates with 1,000,000 stored rows").
DROP INDEX IF EXISTS oauth_codes_request_id;
DROP INDEX IF EXISTS oauth_pkce_request_id;
DROP INDEX IF EXISTS oauth_pkce_sso_session_id;
DROP INDEX IF EXISTS oauth_oidc_request_id;
DROP INDEX IF EXISTS oauth_oidc_sso_session_id;
