package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/postgres"
	"github.com/justiceconnect/justiceconnect/broker/storage/sqlite"
	"github.com/justiceconnect/justiceconnect/broker/timekey"
)

// fillReport is what `justiceconnect-load fill` prints as JSON.
type fillReport struct {
	Store         string           `json:"store"`
	Rows          int64            `json:"rows"`
	ExpiredRows   int64            `json:"expired_rows"`
	AuditEvents   int64            `json:"audit_events"`
	ByKind        map[string]int64 `json:"by_kind"`
	Seconds       float64          `json:"seconds"`
	RowsPerS      float64          `json:"rows_per_s"`
	StoreBytes    int64            `json:"store_bytes,omitempty"`
	Deleted       int64            `json:"deleted,omitempty"`
	DeleteSeconds float64          `json:"delete_seconds,omitempty"`
	DeletedPerS   float64          `json:"deleted_per_s,omitempty"`
}

// appsPerLogin is how many applications each login reaches (SSO): one login
// leaves its SSO session, then for each application the redeemed code (kept a day
// for replay detection), the access token and the refresh token.
const appsPerLogin = 3

// runFill fills a store with realistic rows through the store's own API, in big
// transactions: SSO sessions, codes, access and refresh tokens as logins at three
// applications leave them, a fraction of them expired (over the past week).
// It is the set-up of the stored-data measurement (docs/PERFORMANCE.md); the
// broker must not run on the store meanwhile (one SQLite writer), and the store
// must already hold the clients the rows refer to (start the broker on it once).
func runFill(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("justiceconnect-load fill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sqlitePath := fs.String("sqlite", "", "the SQLite store file")
	dsnFile := fs.String("postgres-dsn-file", "", "a file holding the PostgreSQL DSN")
	rows := fs.Int64("rows", 1_000_000, "rows to add (SSO sessions, codes, access and refresh tokens; 10 per login at three clients)")
	expired := fs.Float64("expired", 0.5, "fraction of the logins whose rows have all expired")
	// Small transactions: each token row fires a trigger (migration 0007), so
	// SQLite journals each statement, and ending one walks the in-memory
	// sub-journal of the transaction's savepoint from its start. With 20,000
	// rows per transaction that walk took 78 % of the fill's CPU at 200,000 rows
	// (1,330 rows/s); with 500, 4,820 rows/s (TestFill's set-up, 2026-12-07).
	batch := fs.Int("batch", 500, "rows per transaction")
	var clients listFlag
	fs.Var(&clients, "client", "a client ID the rows belong to (repeatable; default: the store's first three clients); each login reaches every one")
	deleteExpired := fs.Bool("delete-expired", false, "then run the broker's cleanup (DeleteExpired) once and time it")
	seed := fs.Uint64("seed", 1, "random seed (tokens are random but reproducible)")
	withAudit := fs.Bool("audit", true, "also add the audit events each login leaves (login, then authorize and token.issued at each client: 7 per login at three clients), not counted in --rows")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: justiceconnect-load fill (--sqlite FILE | --postgres-dsn-file FILE) [--rows 1000000] [--expired 0.5] [--delete-expired]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if (*sqlitePath == "") == (*dsnFile == "") || *rows < 0 || *expired < 0 || *expired > 1 || *batch <= 0 || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	rep, err := fill(ctx, fillOptions{sqlitePath: *sqlitePath, dsnFile: *dsnFile, rows: *rows, expiredFrac: *expired, batch: *batch,
		clientIDs: clients, deleteExpired: *deleteExpired, audit: *withAudit, seed: *seed}, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect-load fill: %v\n", err)
		return exitSetup
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
	return exitOK
}

// fillOptions are the flags of `justiceconnect-load fill`.
type fillOptions struct {
	sqlitePath, dsnFile string
	rows                int64
	expiredFrac         float64
	batch               int
	clientIDs           []string
	deleteExpired       bool
	audit               bool
	seed                uint64
}

func fill(ctx context.Context, o fillOptions, stderr io.Writer) (*fillReport, error) {
	now := time.Now()
	opts := storage.Options{NewSession: session.NewFosite, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
	var st storage.Store
	var tx interface {
		BeginTX(context.Context) (context.Context, error)
		Commit(context.Context) error
		Rollback(context.Context) error
	}
	rep := &fillReport{ByKind: map[string]int64{}}
	if o.sqlitePath != "" {
		s, err := sqlite.Open(ctx, o.sqlitePath, opts)
		if err != nil {
			return nil, err
		}
		st, tx, rep.Store = s, s, "sqlite "+o.sqlitePath
	} else {
		raw, err := os.ReadFile(o.dsnFile)
		if err != nil {
			return nil, err
		}
		s, err := postgres.Open(ctx, strings.TrimSpace(string(raw)), opts)
		if err != nil {
			return nil, err
		}
		st, tx, rep.Store = s, s, "postgres"
	}
	defer st.Close()

	var clients []*storage.Client
	for _, id := range o.clientIDs {
		c, err := st.GetClient(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("client %s: %w", id, err)
		}
		clients = append(clients, c.(*storage.Client))
	}
	if len(clients) == 0 {
		all, err := st.ListClients(ctx)
		if err != nil {
			return nil, err
		}
		clients = all[:min(appsPerLogin, len(all))]
	}
	if len(clients) == 0 {
		return nil, errors.New("no client in the store: start the broker on it once, or give --client")
	}

	g := &generator{rng: rand.New(rand.NewChaCha8(seedBytes(o.seed))), now: now, clients: clients}
	if o.audit {
		g.audit = st
	}
	start := time.Now()
	logins := o.rows / int64(1+3*len(clients))
	var inTx int
	txCtx, err := tx.BeginTX(ctx)
	if err != nil {
		return nil, err
	}
	lastProgress := start
	plan := g.plan(logins, o.expiredFrac)
	for i, p := range plan {
		n, err := g.login(txCtx, st, p, rep)
		if err != nil {
			_ = tx.Rollback(txCtx)
			return nil, fmt.Errorf("after %d rows: %w", rep.Rows, err)
		}
		inTx += n
		if inTx >= o.batch || i == len(plan)-1 {
			if err := tx.Commit(txCtx); err != nil {
				return nil, fmt.Errorf("commit after %d rows: %w", rep.Rows, err)
			}
			inTx = 0
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if i < len(plan)-1 {
				if txCtx, err = tx.BeginTX(ctx); err != nil {
					return nil, err
				}
			}
			if time.Since(lastProgress) >= 5*time.Second {
				lastProgress = time.Now()
				fmt.Fprintf(stderr, "[%5.0fs] %d rows (%.0f/s)\n", time.Since(start).Seconds(), rep.Rows, float64(rep.Rows)/time.Since(start).Seconds())
			}
		}
	}
	if logins == 0 {
		_ = tx.Rollback(txCtx)
	}
	rep.Seconds = time.Since(start).Seconds()
	if rep.Seconds > 0 {
		rep.RowsPerS = float64(rep.Rows) / rep.Seconds
	}
	if o.sqlitePath != "" {
		rep.StoreBytes = storeSize(o.sqlitePath)
	}
	if o.deleteExpired {
		t := time.Now()
		n, err := st.DeleteExpired(ctx, time.Now())
		if err != nil {
			return nil, fmt.Errorf("delete expired: %w", err)
		}
		rep.Deleted, rep.DeleteSeconds = n, time.Since(t).Seconds()
		if rep.DeleteSeconds > 0 {
			rep.DeletedPerS = float64(n) / rep.DeleteSeconds
		}
	}
	return rep, nil
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	return b
}

// generator makes rows that look like the broker's: storage keys that start
// with the issue time (package timekey) followed by a random HMAC-SHA256 (codes,
// refresh tokens) or ES256 (access tokens) signature, version 7 UUID request
// IDs, sessions with the claims of an agent, forms as fosite keeps them.
type generator struct {
	rng     *rand.Rand
	now     time.Time
	clients []*storage.Client
	n       int
	// audit, when set, gets the events each login leaves; lastAudit keeps their
	// times in the order of the chain, as a broker's clock stamps them.
	audit     storage.AuditStore
	lastAudit time.Time
}

func (g *generator) randomBytes(n int) []byte {
	b := make([]byte, n+7)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], g.rng.Uint64())
	}
	return b[:n]
}

func (g *generator) token() string {
	return base64.RawURLEncoding.EncodeToString(g.randomBytes(32))
}

// key is the storage key of a token issued at t whose signature has sigBytes bytes.
func (g *generator) key(t time.Time, sigBytes int) string {
	return timekey.Key(t, base64.RawURLEncoding.EncodeToString(g.randomBytes(sigBytes)))
}

func (g *generator) requestID(t time.Time) string {
	var r [16]byte
	copy(r[:], g.randomBytes(16))
	return timekey.UUIDv7(t, r)
}

var (
	professions = []string{"magistrat", "greffier", "avocat", "commissaire_de_justice", "agent"}
	courts      = []string{"TJ75101", "TJ69123", "CA75056", "TJ13055", "TJ33063", "CA69123"}
)

// plannedLogin is a login to add: how long ago it happened and whether its rows
// have all expired.
type plannedLogin struct {
	age     time.Duration
	expired bool
}

// plan draws the logins' times, an expiredFrac share of them expired (evenly
// spread over the draws), and returns them oldest first: the store gets its rows
// in the order a broker writes them, so that rowid order follows time, as the
// cleanup finds it on a store that has run for a while. (Until 2026-12-07 the
// logins went in drawn order; each expired row the cleanup deleted then sat on a
// random page of its table and of its client_id index.)
func (g *generator) plan(logins int64, expiredFrac float64) []plannedLogin {
	p := make([]plannedLogin, logins)
	for i := range p {
		expired := math.Floor(float64(i+1)*expiredFrac) > math.Floor(float64(i)*expiredFrac)
		// An expired login ended in the past week, its codes more than a day ago
		// (past their replay retention); a live one is a few hours old.
		age := time.Duration(g.rng.Int64N(int64(8 * time.Hour)))
		if expired {
			age = 26*time.Hour + time.Duration(g.rng.Int64N(int64(6*24*time.Hour)))
		}
		p[i] = plannedLogin{age: age, expired: expired}
	}
	slices.SortStableFunc(p, func(a, b plannedLogin) int { return cmp.Compare(b.age, a.age) })
	return p
}

// login adds the rows of one login and returns how many: its session, tokens
// and codes, the codes redeemed (invalidated).
func (g *generator) login(ctx context.Context, st storage.Store, p plannedLogin, rep *fillReport) (int, error) {
	g.n++
	expired := p.expired
	authTime := g.now.Add(-p.age).Truncate(time.Second)
	sid := g.key(authTime, 24) // as session.newSessionID: the time, then 24 random bytes
	public := g.token()[:43]
	user := fmt.Sprintf("agent%07d", g.n)
	profession := professions[g.rng.IntN(len(professions))]
	court := courts[g.rng.IntN(len(courts))]
	identity, _ := json.Marshal(map[string]any{
		"provider": "agents", "subject": "uid=" + user + ",ou=people,dc=justice,dc=gouv,dc=fr",
		"attributes": map[string][]string{"givenName": {"Camille"}, "sn": {"Martin"}, "employeeType": {"MAG"}, "court": {court}, "mail": {user + "@justice.gouv.fr"}},
		"claims":     map[string]any{"given_name": "Camille", "family_name": "Martin", "profession": profession, "courts": []string{court}},
		"authn":      map[string]any{"time": authTime, "amr": []string{"pwd"}},
	})
	sso := &storage.SSOSession{ID: sid, Subject: public, Provider: "agents", ACR: "eidas1", AMR: []string{"pwd"},
		AuthTime: authTime, CreatedAt: authTime, LastSeenAt: authTime.Add(time.Minute),
		IdleExpiresAt: authTime.Add(8 * time.Hour), AbsoluteExpiresAt: authTime.Add(12 * time.Hour), Identity: identity}
	if expired {
		sso.IdleExpiresAt = authTime.Add(time.Hour)
	} else {
		sso.IdleExpiresAt = g.now.Add(8 * time.Hour)
		sso.AbsoluteExpiresAt = g.now.Add(12 * time.Hour)
	}
	for _, c := range g.clients {
		sso.Clients = append(sso.Clients, c.ID)
	}
	if err := st.CreateSSOSession(ctx, sso); err != nil {
		return 0, err
	}
	n := 1
	rep.ByKind["sso_session"]++
	if err := g.event(ctx, rep, storage.AuditEvent{Time: authTime, Type: audit.Login, Outcome: audit.OutcomeOK, Subject: public,
		Provider: "agents", ClientID: g.clients[0].ID, Session: sid, Details: map[string]string{"acr": "eidas1", "amr": "pwd"}}); err != nil {
		return n, err
	}
	for i, c := range g.clients {
		issued := authTime.Add(time.Duration(i+1) * time.Minute)
		s := session.New()
		s.Subject, s.PublicSubject, s.Username, s.SID, s.Provider = g.token()[:43], public, user, sid, "agents"
		s.UpstreamSubject = "uid=" + user + ",ou=people,dc=justice,dc=gouv,dc=fr"
		s.IDClaims = &jwt.IDTokenClaims{Subject: s.Subject, Issuer: "https://justiceconnect.justice.gouv.fr", Audience: []string{c.ID},
			AuthTime: authTime, RequestedAt: issued, Nonce: g.token()[:22], AuthenticationContextClassReference: "eidas1",
			AuthenticationMethodsReferences: []string{"pwd"}, Extra: map[string]any{"sid": sid}}
		s.Headers = &jwt.Headers{Extra: map[string]any{"kid": "k-" + sid[len(sid)-8:]}}
		s.Claims = map[string]any{"given_name": "Camille", "family_name": "Martin", "profession": profession, "courts": []string{court}}
		// Access tokens live 15 minutes, refresh tokens 12 hours. A live login's
		// access tokens expire one to two hours from now instead, so that a
		// measurement on the filled store does not watch them expire and the
		// cleanup delete them meanwhile.
		atExp, rtExp := issued.Add(15*time.Minute), issued.Add(12*time.Hour)
		if !expired {
			atExp = g.now.Add(time.Hour + time.Duration(g.rng.Int64N(int64(time.Hour))))
			rtExp = g.now.Add(12 * time.Hour)
		}
		s.SetExpiresAt(fosite.AuthorizeCode, issued.Add(time.Minute))
		s.SetExpiresAt(fosite.AccessToken, atExp)
		s.SetExpiresAt(fosite.RefreshToken, rtExp)
		redirect := "http://127.0.0.1/callback"
		if len(c.RedirectURIs) > 0 {
			redirect = c.RedirectURIs[0]
		}
		req := &fosite.Request{
			ID: g.requestID(issued), RequestedAt: issued, Client: c,
			RequestedScope: fosite.Arguments{"openid", "profile", "offline_access"}, GrantedScope: fosite.Arguments{"openid", "profile", "offline_access"},
			RequestedAudience: fosite.Arguments{}, GrantedAudience: fosite.Arguments{},
			Form: url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirect}, "scope": {"openid profile offline_access"},
				"state": {g.token()[:22]}, "nonce": {s.IDClaims.Nonce}, "code_challenge": {g.token()[:43]}, "code_challenge_method": {"S256"}},
			Session: s,
		}
		code := g.key(issued, 32)
		if err := st.CreateAuthorizeCodeSession(ctx, code, req); err != nil {
			return n, err
		}
		if err := st.InvalidateAuthorizeCodeSession(ctx, code); err != nil {
			return n, err
		}
		at := g.key(issued, 64)
		if err := st.CreateAccessTokenSession(ctx, at, req); err != nil {
			return n, err
		}
		if err := st.CreateRefreshTokenSession(ctx, g.key(issued, 32), at, req); err != nil {
			return n, err
		}
		scopes := strings.Join(req.GrantedScope, " ")
		if err := g.event(ctx, rep, storage.AuditEvent{Time: issued, Type: audit.Authorize, Outcome: audit.OutcomeOK, Subject: public,
			ClientID: c.ID, Provider: "agents", Session: sid, Request: req.ID, Details: map[string]string{"scopes": scopes, "acr": "eidas1"}}); err != nil {
			return n, err
		}
		if err := g.event(ctx, rep, storage.AuditEvent{Time: issued.Add(time.Second), Type: audit.TokenIssued, Outcome: audit.OutcomeOK, Subject: public,
			ClientID: c.ID, Provider: "agents", Session: sid, Request: req.ID,
			Details: map[string]string{"grant_type": "authorization_code", "scopes": scopes, "audience": ""}}); err != nil {
			return n, err
		}
		n += 3
		rep.ByKind["code"]++
		rep.ByKind["access_token"]++
		rep.ByKind["refresh_token"]++
	}
	rep.Rows += int64(n)
	if expired {
		rep.ExpiredRows += int64(n)
	}
	return n, nil
}

// event appends e to the audit trail when the fill writes one, its time moved
// forward if needed so that this fill's times never go back (a login's last
// events come minutes after the next login began). The events carry the logins'
// past times: in Seq order they follow whatever the trail already held (the
// broker's start, an earlier fill), which may be newer. Pruning goes by Seq
// (storage.AuditPruner), so that only blurs ListAudit's time ranges.
func (g *generator) event(ctx context.Context, rep *fillReport, e storage.AuditEvent) error {
	if g.audit == nil {
		return nil
	}
	if e.Time.Before(g.lastAudit) {
		e.Time = g.lastAudit
	}
	e.Time = e.Time.UTC()
	g.lastAudit = e.Time
	if err := g.audit.AppendAudit(ctx, &e); err != nil {
		return fmt.Errorf("audit event: %w", err)
	}
	rep.AuditEvents++
	return nil
}
