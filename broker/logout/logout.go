package logout

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/keys"
	"github.com/justiceconnect/justiceconnect/broker/release"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// Audit event types of this package (see broker/audit for the others).
const (
	// AuditBackchannel records a notice given up after its last attempt (failure).
	AuditBackchannel = "logout.backchannel"
	// AuditUpstream records a back-channel logout received from an upstream.
	AuditUpstream = "logout.upstream"
)

// Event is the events claim member of a logout token (OIDC BCL §2.4).
const Event = "http://schemas.openid.net/event/backchannel-logout"

// TokenType is the typ header of logout tokens (OIDC BCL §2.4, RECOMMENDED).
const TokenType = "logout+jwt"

// TokenLifetime is the exp - iat of a logout token (SECURITY.md E10: at most two
// minutes).
const TokenLifetime = 2 * time.Minute

// DefaultBackoff are the waits after each failed attempt: five attempts over
// about ten minutes.
var DefaultBackoff = []time.Duration{15 * time.Second, time.Minute, 3 * time.Minute, 6 * time.Minute}

// Config are the queue's dependencies.
type Config struct {
	Issuer       string
	Store        storage.Store
	Keys         *keys.Manager
	PairwiseSalt []byte
	Audit        *audit.Log
	// HTTPClient posts the notices; redirects are never followed. Defaults to a
	// client with Timeout.
	HTTPClient *http.Client
	// Timeout bounds one POST (default 5 s).
	Timeout time.Duration
	// Backoff are the waits after each failed attempt; there are len(Backoff)+1
	// attempts in all (default DefaultBackoff).
	Backoff []time.Duration
	// Poll is how often the worker looks for due notices (default 2 s).
	Poll time.Duration
	// Lease is how long a claimed notice is reserved for its sender (default 1 min).
	Lease  time.Duration
	Logger *slog.Logger
	Now    func() time.Time
}

// Queue sends back-channel logout notices.
type Queue struct {
	cfg    Config
	client *http.Client
}

// New returns a queue; Run starts its worker.
func New(cfg Config) *Queue {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &http.Client{Timeout: cfg.Timeout}
	if cfg.HTTPClient != nil {
		cc := *cfg.HTTPClient
		c = &cc
	}
	// OIDC BCL §2.5: the RP answers the POST itself; a redirect is a failure.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Queue{cfg: cfg, client: c}
}

// Enqueue queues a notice for every client of the session that registered a
// backchannel_logout_uri and returns the new rows' IDs. It needs only the store,
// so that the administration command can queue notices for the running broker to
// send.
func Enqueue(ctx context.Context, store storage.Store, sess *storage.SSOSession, now time.Time) ([]string, error) {
	var ds []*storage.LogoutDelivery
	for _, id := range sess.Clients {
		fc, err := store.GetClient(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			continue // client deleted since: nobody to tell
		}
		if err != nil {
			return nil, fmt.Errorf("logout: client %s: %w", id, err)
		}
		c, ok := fc.(*storage.Client)
		if !ok || c.BackchannelLogoutURI == "" {
			continue
		}
		ds = append(ds, &storage.LogoutDelivery{ID: randomID(), SessionID: sess.ID, Subject: sess.Subject, ClientID: c.ID,
			URI: c.BackchannelLogoutURI, NextAttemptAt: now, CreatedAt: now})
	}
	if len(ds) == 0 {
		return nil, nil
	}
	if _, err := store.EnqueueLogouts(ctx, ds); err != nil {
		return nil, fmt.Errorf("logout: enqueue: %w", err)
	}
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out, nil
}

// RunOnce claims the notices due now and tries them; it returns how many it tried.
func (q *Queue) RunOnce(ctx context.Context) (int, error) {
	ds, err := q.cfg.Store.ClaimLogouts(ctx, q.cfg.Now(), q.cfg.Lease, 32)
	if err != nil {
		return 0, err
	}
	dctx, cancel := context.WithTimeout(ctx, q.cfg.Timeout+time.Second)
	defer cancel()
	q.deliverAll(dctx, ds)
	return len(ds), nil
}

// Run is the worker: it drains due notices every Poll until ctx ends. depth, when
// set, is told the queue depth after each round (metrics).
func (q *Queue) Run(ctx context.Context, depth func(int64)) {
	t := time.NewTicker(q.cfg.Poll)
	defer t.Stop()
	for {
		for {
			n, err := q.RunOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					q.cfg.Logger.Warn("logout: claim notices", "err", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		if depth != nil {
			if n, err := q.cfg.Store.CountLogouts(ctx); err == nil {
				depth(n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (q *Queue) deliverAll(ctx context.Context, ds []*storage.LogoutDelivery) {
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.deliver(ctx, d)
		}()
	}
	wg.Wait()
}

// deliver makes one attempt and records its outcome. The outcome is written even
// when ctx ran out (the caller's deadline), so the row goes back to the worker.
func (q *Queue) deliver(ctx context.Context, d *storage.LogoutDelivery) {
	err := q.send(ctx, d)
	store := context.WithoutCancel(ctx)
	if err == nil {
		if ferr := q.cfg.Store.FinishLogout(store, d.ID, d.Lease); ferr != nil {
			q.cfg.Logger.Warn("logout: finish notice", "client_id", d.ClientID, "err", ferr)
		}
		return
	}
	attempt := d.Attempts + 1
	if attempt > len(q.cfg.Backoff) {
		q.cfg.Logger.Warn("logout: back-channel notice given up", "client_id", d.ClientID, "attempts", attempt, "err", err)
		q.cfg.Audit.Record(store, storage.AuditEvent{Type: AuditBackchannel, Outcome: audit.OutcomeFail, Subject: d.Subject,
			ClientID: d.ClientID, Session: d.SessionID, Details: map[string]string{"attempts": strconv.Itoa(attempt), "error": err.Error()}})
		if ferr := q.cfg.Store.FinishLogout(store, d.ID, d.Lease); ferr != nil {
			q.cfg.Logger.Warn("logout: drop notice", "client_id", d.ClientID, "err", ferr)
		}
		return
	}
	q.cfg.Logger.Info("logout: back-channel notice failed, will retry", "client_id", d.ClientID, "attempt", attempt, "err", err)
	next := q.cfg.Now().Add(q.cfg.Backoff[attempt-1])
	if rerr := q.cfg.Store.RetryLogout(store, d.ID, d.Lease, next, err.Error()); rerr != nil {
		q.cfg.Logger.Warn("logout: reschedule notice", "client_id", d.ClientID, "err", rerr)
	}
}

// send POSTs a fresh logout token to the client (OIDC BCL §2.5); 200 and 204 are
// success (§2.8).
func (q *Queue) send(ctx context.Context, d *storage.LogoutDelivery) error {
	fc, err := q.cfg.Store.GetClient(ctx, d.ClientID)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	c := fc.(*storage.Client)
	uri := c.BackchannelLogoutURI
	if uri == "" {
		uri = d.URI // unregistered since: the notice was promised when the session ended
	}
	tok, err := q.Token(ctx, c, d.Subject, d.SessionID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := q.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// Token mints the logout token for client about the broker's public subject and
// the SSO session sid (OIDC BCL §2.4): typ logout+jwt, iss, aud, iat, exp, jti,
// events, sid and the sub this client knows (pairwise for partners); never a
// nonce (§2.4: "MUST NOT").
func (q *Queue) Token(ctx context.Context, c *storage.Client, publicSubject, sid string) (string, error) {
	now := q.cfg.Now()
	claims := map[string]any{
		"iss":    q.cfg.Issuer,
		"aud":    c.ID,
		"iat":    now.Unix(),
		"exp":    now.Add(TokenLifetime).Unix(),
		"jti":    randomID(),
		"events": map[string]any{Event: map[string]any{}},
	}
	if sid != "" {
		claims["sid"] = sid
	}
	if publicSubject != "" {
		claims["sub"] = release.Subject(c, publicSubject, q.cfg.PairwiseSalt)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("logout: encode token: %w", err)
	}
	alg := c.IDTokenSignedResponseAlg
	if alg == "" {
		alg = "ES256"
	}
	k, err := q.cfg.Keys.Signer(ctx, alg)
	if err != nil {
		return "", fmt.Errorf("logout: signing key: %w", err)
	}
	return k.Sign(payload, TokenType)
}

func randomID() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic("logout: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
