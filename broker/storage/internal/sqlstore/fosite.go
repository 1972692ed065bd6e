package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"time"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/timekey"
)

// Request tables. Each keeps one fosite.Requester per key; the key is the SHA-256 of
// what fosite passes: token signatures for codes and tokens (fosite never hands the
// store a token), but the raw authorization code for the OpenID Connect session
// (fosite v0.49.0 handler/openid/flow_explicit_auth.go calls
// CreateOpenIDConnectSession with resp.GetCode()); hashing every key keeps a
// database dump from containing a redeemable code. The issue time a key starts
// with stays in front of the hash (tokenKey).
const (
	tableCode    = "oauth_codes"
	tableAccess  = "oauth_access_tokens"
	tableRefresh = "oauth_refresh_tokens"
	tablePKCE    = "oauth_pkce"
	tableOIDC    = "oauth_oidc"
)

// CodeRetention is how long an authorization code row outlives its expiry before
// DeleteExpired removes it: a replayed code still found (invalidated) makes fosite
// revoke the tokens of the first redemption (RFC 9700 §4.2.4, SECURITY B1); a code
// already deleted is merely "not found".
const CodeRetention = 24 * time.Hour

// strippedForm lists form values never stored: client credentials (RFC 6749 §2.3.1
// client_secret, RFC 7523 client_assertion), the resource owner password, the PKCE
// verifier (RFC 7636 §4.5: only the challenge is kept), and raw codes and tokens a
// token request carries. fosite sanitises most token-endpoint requests itself, but
// not the authorize request or every handler's store call.
var strippedForm = []string{
	"client_secret", "password", "code_verifier", "client_assertion",
	"code", "refresh_token", "assertion", "subject_token", "actor_token",
}

func hashKey(k string) string {
	h := sha256.Sum256([]byte(k))
	return hex.EncodeToString(h[:])
}

// tokenKey is the key a request row is stored under: the time prefix the key
// carries (package timekey), then its hash. A key with a time prefix goes at the
// right edge of the table's signature index instead of at a random leaf; rows
// written before time keys existed have no prefix and are found as before.
func tokenKey(k string) string {
	return timekey.Of(k) + hashKey(k)
}

// requestRow is a fosite.Requester flattened into columns.
type requestRow struct {
	requestID, clientID                                       string
	requestedAt                                               int64
	scopes, grantedScopes, requestedAudience, grantedAudience string
	form, session, subject                                    string
	ssoSessionID                                              *string
	offline                                                   bool
	expiresAt                                                 *int64
}

func encodeRequest(r fosite.Requester, tt fosite.TokenType) (*requestRow, error) {
	if r == nil || r.GetClient() == nil {
		return nil, errors.New("request without client")
	}
	row := &requestRow{
		requestID:   r.GetID(),
		clientID:    r.GetClient().GetID(),
		requestedAt: r.GetRequestedAt().UnixNano(),
	}
	var err error
	enc := func(v any) string {
		b, e := json.Marshal(v)
		if e != nil && err == nil {
			err = e
		}
		return string(b)
	}
	row.scopes = enc(nonNil(r.GetRequestedScopes()))
	row.grantedScopes = enc(nonNil(r.GetGrantedScopes()))
	row.requestedAudience = enc(nonNil(r.GetRequestedAudience()))
	row.grantedAudience = enc(nonNil(r.GetGrantedAudience()))
	form := url.Values{}
	for k, v := range r.GetRequestForm() {
		form[k] = v
	}
	for _, k := range strippedForm {
		delete(form, k)
	}
	row.form = enc(form)
	sess := r.GetSession()
	row.session = enc(sess)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	if sess != nil && !isNil(sess) {
		row.subject = sess.GetSubject()
		if sider, ok := sess.(storage.SessionIDer); ok {
			if sid := sider.SSOSessionID(); sid != "" {
				row.ssoSessionID = &sid
			}
		}
		if exp := sess.GetExpiresAt(tt); !exp.IsZero() {
			n := exp.UnixNano()
			row.expiresAt = &n
		}
	}
	for _, sc := range r.GetGrantedScopes() {
		// OIDC Core 11: offline_access asks for a refresh token that outlives the
		// browser session; fosite's default RefreshTokenScopes also accept "offline".
		if sc == "offline_access" || sc == "offline" {
			row.offline = true
		}
	}
	return row, nil
}

func nonNil(a fosite.Arguments) fosite.Arguments {
	if a == nil {
		return fosite.Arguments{}
	}
	return a
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Interface, reflect.Slice:
		return rv.IsNil()
	}
	return false
}

const requestColumns = "request_id, requested_at, client_id, scopes, granted_scopes, requested_audience, granted_audience, form, session, subject, sso_session_id, offline, active, expires_at"

func (s *Store) createRequest(ctx context.Context, op, table, key string, r fosite.Requester, tt fosite.TokenType, extraCol string, extraVal any) error {
	row, err := encodeRequest(r, tt)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", op, err)
	}
	cols := "signature, " + requestColumns
	marks := "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
	args := []any{tokenKey(key), row.requestID, row.requestedAt, row.clientID, row.scopes, row.grantedScopes,
		row.requestedAudience, row.grantedAudience, row.form, row.session, row.subject, row.ssoSessionID,
		row.offline, true, row.expiresAt}
	if extraCol != "" {
		cols += ", " + extraCol
		marks += ", ?"
		args = append(args, extraVal)
	}
	q := "INSERT INTO " + table + " (" + cols + ") VALUES (" + marks + ") ON CONFLICT (signature) DO NOTHING"
	conflict := func(n int64) error {
		if n == 0 {
			return fmt.Errorf("storage: %s: %w", op, storage.ErrConflict)
		}
		return nil
	}
	w := s.writer(ctx)
	if d, ok := w.(Deferrer); ok {
		// Keys are token signatures (random): a conflict is a bug, and fosite
		// answers server_error for it whether it comes now or at the commit.
		d.ExecLater(table, conflict, q, args...)
		return nil
	}
	n, err := w.Exec(ctx, q, args...)
	if err != nil {
		return s.wrap(op, err)
	}
	return conflict(n)
}

// tableSessionGrants names, for each SSO session, the grants (request IDs) whose
// codes, access or refresh tokens were issued in it: logout revokes those
// (RevokeTokensOfSession). A trigger on each of these tables writes the row with
// the grant's first token; migration 0007 says why it replaced an
// sso_session_id index per token table.
const tableSessionGrants = "sso_session_grants"

// getRequest loads the request stored under key and rebuilds a *fosite.Request with
// its client. It returns the request even when the row is inactive, with active
// false, because fosite needs the requester of an invalidated code or a rotated
// refresh token to revoke the tokens of its grant.
func (s *Store) getRequest(ctx context.Context, op, table, key string, proto fosite.Session) (*fosite.Request, bool, error) {
	var (
		row        requestRow
		active     bool
		clientJSON *string
	)
	err := s.reader(ctx).QueryRow(ctx,
		"SELECT t.request_id, t.requested_at, t.scopes, t.granted_scopes, t.requested_audience, t.granted_audience, t.form, t.session, t.active, c.data"+
			" FROM "+table+" t LEFT JOIN clients c ON c.id = t.client_id WHERE t.signature = ?", tokenKey(key)).
		Scan(&row.requestID, &row.requestedAt, &row.scopes, &row.grantedScopes, &row.requestedAudience, &row.grantedAudience,
			&row.form, &row.session, &active, &clientJSON)
	if err != nil {
		if s.b.IsNoRows(err) {
			return nil, false, notFound(op)
		}
		return nil, false, s.wrap(op, err)
	}
	if clientJSON == nil {
		// The client was deleted (its rows cascade); treat the grant as gone.
		return nil, false, notFound(op)
	}
	client, err := s.clients.decode(*clientJSON)
	if err != nil {
		return nil, false, fmt.Errorf("storage: %s: decode client: %w", op, err)
	}
	req := &fosite.Request{
		ID:          row.requestID,
		RequestedAt: time.Unix(0, row.requestedAt).UTC(),
		Client:      client,
		Form:        url.Values{},
	}
	if isNil(proto) {
		proto = s.opts.NewSession()
	}
	for _, f := range []struct {
		src string
		dst any
	}{
		{row.scopes, &req.RequestedScope},
		{row.grantedScopes, &req.GrantedScope},
		{row.requestedAudience, &req.RequestedAudience},
		{row.grantedAudience, &req.GrantedAudience},
		{row.form, &req.Form},
		// fosite passes the prototype session it wants filled (the token endpoint's
		// request.GetSession()); decoding into it keeps the broker's session type.
		{row.session, proto},
	} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, false, fmt.Errorf("storage: %s: decode request: %w", op, err)
		}
	}
	req.RequestedScope = nonNil(req.RequestedScope)
	req.GrantedScope = nonNil(req.GrantedScope)
	req.RequestedAudience = nonNil(req.RequestedAudience)
	req.GrantedAudience = nonNil(req.GrantedAudience)
	req.Session = proto
	return req, active, nil
}

func (s *Store) deleteRequest(ctx context.Context, op, table, key string) error {
	// Deleting an absent row is not an error: fosite deletes PKCE and OIDC sessions
	// after use and the refresh-reuse handler deletes the replayed token.
	q, args := "DELETE FROM "+table+" WHERE signature = ?", []any{tokenKey(key)}
	w := s.writer(ctx)
	if d, ok := w.(Deferrer); ok {
		// Nothing reads the result: let the transaction run it with its other
		// writes (fosite deletes the PKCE session before it signs the tokens).
		d.ExecLater(table, nil, q, args...)
		return nil
	}
	_, err := w.Exec(ctx, q, args...)
	return s.wrap(op, err)
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.createRequest(ctx, "create authorize code", tableCode, code, r, fosite.AuthorizeCode, "", nil)
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. An invalidated
// code returns its requester together with fosite.ErrInvalidatedAuthorizeCode:
// fosite (handler/oauth2/flow_authorize_code_token.go) then revokes the access and
// refresh tokens of that request ID (RFC 6749 §4.1.2, RFC 9700 §4.2.4).
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	req, active, err := s.getRequest(ctx, "get authorize code", tableCode, code, session)
	if err != nil {
		return nil, err
	}
	if !active {
		return req, fmt.Errorf("storage: get authorize code: %w", fosite.ErrInvalidatedAuthorizeCode)
	}
	return req, nil
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. The update
// only matches an active code, so of two concurrent redemptions (each in its fosite
// transaction) the second finds nothing to update and fails with
// fosite.ErrInvalidatedAuthorizeCode: one code, one set of tokens (SECURITY B2).
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	const op = "invalidate authorize code"
	const q = "UPDATE " + tableCode + " SET active = ? WHERE signature = ? AND active"
	if d, ok := s.writer(ctx).(Deferrer); ok {
		// In a transaction, fosite has just read the code (active); the update
		// runs with the transaction's other writes, after fosite has signed the
		// tokens, and a concurrent redemption that won makes it match nothing:
		// this transaction then fails at its commit, as fosite fails it (with
		// server_error) when the update fails here.
		d.ExecLater(tableCode, func(n int64) error {
			if n != 1 {
				return fmt.Errorf("storage: %s: %w", op, fosite.ErrInvalidatedAuthorizeCode)
			}
			return nil
		}, q, false, tokenKey(code))
		return nil
	}
	n, err := s.writer(ctx).Exec(ctx, q, false, tokenKey(code))
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 1 {
		return nil
	}
	if ok, err := s.exists(ctx, tableCode, "signature", tokenKey(code)); err != nil {
		return s.wrap(op, err)
	} else if !ok {
		return notFound(op)
	}
	return fmt.Errorf("storage: %s: %w", op, fosite.ErrInvalidatedAuthorizeCode)
}

func (s *Store) exists(ctx context.Context, table, col string, v any) (bool, error) {
	var one int
	err := s.reader(ctx).QueryRow(ctx, "SELECT 1 FROM "+table+" WHERE "+col+" = ?", v).Scan(&one)
	if err != nil {
		if s.b.IsNoRows(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *Store) CreateAccessTokenSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.createRequest(ctx, "create access token", tableAccess, signature, r, fosite.AccessToken, "", nil)
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage. Revoked access tokens
// are deleted, so an unknown or revoked token is fosite.ErrNotFound.
func (s *Store) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, _, err := s.getRequest(ctx, "get access token", tableAccess, signature, session)
	if err != nil {
		return nil, err
	}
	return req, nil
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.deleteRequest(ctx, "delete access token", tableAccess, signature)
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, r fosite.Requester) error {
	var at *string
	if accessSignature != "" {
		h := tokenKey(accessSignature)
		at = &h
	}
	return s.createRequest(ctx, "create refresh token", tableRefresh, signature, r, fosite.RefreshToken, "access_signature", at)
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage. A rotated or revoked
// refresh token returns its requester together with fosite.ErrInactiveToken: fosite
// (handler/oauth2/flow_refresh.go handleRefreshTokenReuse) treats that as reuse and
// revokes the grant's tokens (RFC 9700 §4.14.2, SECURITY B16).
func (s *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, active, err := s.getRequest(ctx, "get refresh token", tableRefresh, signature, session)
	if err != nil {
		return nil, err
	}
	if !active {
		return req, fmt.Errorf("storage: get refresh token: %w", fosite.ErrInactiveToken)
	}
	return req, nil
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.deleteRequest(ctx, "delete refresh token", tableRefresh, signature)
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the used refresh token
// stays as an inactive row (so a replay is detected as reuse), and the access tokens
// issued with it are revoked, as fosite's reference MemoryStore does. fosite calls it
// inside its transaction before storing the new pair under the same request ID. Only
// an active token is rotated: of two concurrent refreshes with one token, the second
// fails with fosite.ErrInactiveToken instead of minting a second pair.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	const op = "rotate refresh token"
	return s.inTx(ctx, op, func(ctx context.Context, q Querier) error {
		n, err := q.Exec(ctx, "UPDATE "+tableRefresh+" SET active = ? WHERE signature = ? AND request_id = ? AND active", false, tokenKey(signature), requestID)
		if err != nil {
			return s.wrap(op, err)
		}
		if n == 0 {
			var one int
			err := q.QueryRow(ctx, "SELECT 1 FROM "+tableRefresh+" WHERE signature = ? AND request_id = ?", tokenKey(signature), requestID).Scan(&one)
			if s.b.IsNoRows(err) {
				return notFound(op)
			} else if err != nil {
				return s.wrap(op, err)
			}
			return fmt.Errorf("storage: %s: %w", op, fosite.ErrInactiveToken)
		}
		if _, err := q.Exec(ctx, "DELETE FROM "+tableAccess+" WHERE request_id = ?", requestID); err != nil {
			return s.wrap(op, err)
		}
		return nil
	})
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage (RFC 7009 §2.1): every
// refresh token of the request becomes inactive. The rows stay so that a later use
// is seen as reuse.
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	_, err := s.writer(ctx).Exec(ctx, "UPDATE "+tableRefresh+" SET active = ? WHERE request_id = ? AND active", false, requestID)
	return s.wrap("revoke refresh token", err)
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage: every access token of
// the request is deleted.
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	_, err := s.writer(ctx).Exec(ctx, "DELETE FROM "+tableAccess+" WHERE request_id = ?", requestID)
	return s.wrap("revoke access token", err)
}

// CreateOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *Store) CreateOpenIDConnectSession(ctx context.Context, authorizeCode string, r fosite.Requester) error {
	return s.createRequest(ctx, "create openid session", tableOIDC, authorizeCode, r, fosite.AuthorizeCode, "", nil)
}

// GetOpenIDConnectSession implements openid.OpenIDConnectRequestStorage; fosite
// passes the token request, whose session is the prototype to fill.
func (s *Store) GetOpenIDConnectSession(ctx context.Context, authorizeCode string, r fosite.Requester) (fosite.Requester, error) {
	var proto fosite.Session
	if r != nil {
		proto = r.GetSession()
	}
	req, _, err := s.getRequest(ctx, "get openid session", tableOIDC, authorizeCode, proto)
	if err != nil {
		return nil, err
	}
	return req, nil
}

// DeleteOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *Store) DeleteOpenIDConnectSession(ctx context.Context, authorizeCode string) error {
	return s.deleteRequest(ctx, "delete openid session", tableOIDC, authorizeCode)
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.createRequest(ctx, "create pkce session", tablePKCE, signature, r, fosite.AuthorizeCode, "", nil)
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, _, err := s.getRequest(ctx, "get pkce session", tablePKCE, signature, session)
	if err != nil {
		return nil, err
	}
	return req, nil
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return s.deleteRequest(ctx, "delete pkce session", tablePKCE, signature)
}

// RevokeTokensOfSession implements storage.FositeStore. It deletes the access tokens
// and deactivates the refresh tokens issued in the SSO session sid (OIDC Back-Channel
// Logout 1.0 §2.7: refresh tokens without offline_access SHOULD be revoked at logout),
// keeping offline_access grants when keepOffline is set, and invalidates the
// session's unredeemed codes so that a code obtained before logout yields no token.
// It returns the number of access and refresh tokens revoked. The tokens are found
// through the session's grants (tableSessionGrants), so only while the session is
// stored; each statement also checks the row's own session.
func (s *Store) RevokeTokensOfSession(ctx context.Context, sid string, keepOffline bool) (int64, error) {
	const op = "revoke tokens of session"
	var total int64
	err := s.inTx(ctx, op, func(ctx context.Context, q Querier) error {
		inSession := " WHERE request_id IN (SELECT request_id FROM " + tableSessionGrants + " WHERE sso_session_id = ?) AND sso_session_id = ?"
		args := []any{sid, sid}
		cond := inSession
		if keepOffline {
			cond += " AND NOT offline"
		}
		n, err := q.Exec(ctx, "DELETE FROM "+tableAccess+cond, args...)
		if err != nil {
			return s.wrap(op, err)
		}
		total += n
		n, err = q.Exec(ctx, "UPDATE "+tableRefresh+" SET active = ?"+cond+" AND active", append([]any{false}, args...)...)
		if err != nil {
			return s.wrap(op, err)
		}
		total += n
		if _, err := q.Exec(ctx, "UPDATE "+tableCode+" SET active = ?"+inSession+" AND active", append([]any{false}, args...)...); err != nil {
			return s.wrap(op, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}
