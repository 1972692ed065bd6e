package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// Opener opens a fresh, empty store with the given options (the suite sets a fixed
// clock and its own session type); the implementation's test closes it at cleanup.
type Opener func(t *testing.T, opts storage.Options) storage.Store

// T0 is the suite's fixed "now".
var T0 = time.Date(2031, time.March, 14, 9, 26, 53, 589793238, time.UTC)

// Clock is a settable clock for expiry tests.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Session is a fosite session that knows its SSO session, as the broker's does; the
// suite uses it to check that stores index the SSO session id (storage.SessionIDer).
type Session struct {
	openid.DefaultSession
	SID string `json:"sid,omitempty"`
	// PublicSubject mirrors the broker's session (RevokeTokensOfSubject finds it).
	PublicSubject string `json:"public_subject,omitempty"`
}

// SSOSessionID implements storage.SessionIDer.
func (s *Session) SSOSessionID() string { return s.SID }

// Clone implements fosite.Session.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	b, _ := json.Marshal(s)
	c := new(Session)
	_ = json.Unmarshal(b, c)
	return c
}

var _ storage.SessionIDer = (*Session)(nil)

// env is one subtest's store and clock.
type env struct {
	t     *testing.T
	s     storage.Store
	clock *Clock
	ctx   context.Context
}

// Run runs the conformance suite. Each subtest opens its own store.
func Run(t *testing.T, open Opener) {
	newEnv := func(t *testing.T) *env {
		t.Helper()
		clk := NewClock(T0)
		s := open(t, storage.Options{
			NewSession: func() fosite.Session { return new(Session) },
			Now:        clk.Now,
		})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		t.Cleanup(cancel)
		return &env{t: t, s: s, clock: clk, ctx: ctx}
	}
	groups := []struct {
		name  string
		tests []subtest
	}{
		{"Clients", clientTests},
		{"Fosite", fositeTests},
		{"Transactions", txTests},
		{"Records", recordTests},
		{"Expiry", expiryTests},
		{"ExpiryBatches", expiryBatchTests},
		{"Audit", auditTests},
		{"AuditPrune", auditPruneTests},
		{"FositeFlows", flowTests},
		{"Delegations", delegationTests},
		{"ConsentWithdrawal", consentTests},
		{"Logout", logoutTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, st := range g.tests {
				t.Run(st.name, func(t *testing.T) { st.run(newEnv(t)) })
			}
		})
	}
}

type subtest struct {
	name string
	run  func(e *env)
}

// ---- helpers ----

func (e *env) client(id string) *storage.Client {
	e.t.Helper()
	c := &storage.Client{
		ID: id, Name: "Client " + id, Kind: storage.ClientPartner,
		SecretHash:   []byte("$2a$10$abcdefghijklmnopqrstuv"),
		RedirectURIs: []string{"https://rp.example/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"},
		Scopes: []string{"openid", "profile", "offline_access"}, Audience: []string{"https://api.justice.example"},
		TokenEndpointAuthMethod: "client_secret_basic", SubjectType: "pairwise", Source: "config",
		AccessTokenLifespan: 5 * time.Minute,
	}
	if err := e.s.CreateClient(e.ctx, c); err != nil {
		e.t.Fatalf("CreateClient(%s): %v", id, err)
	}
	return c
}

// ssoSession stores a live SSO session with that ID, as a login does before any
// token is issued in it: the store revokes by session only the tokens of a stored
// session (RevokeTokensOfSession).
func (e *env) ssoSession(id string) {
	e.t.Helper()
	s := &storage.SSOSession{ID: id, Subject: "alice", Provider: "ldap", ACR: "eidas2", AMR: []string{"pwd"},
		AuthTime: e.clock.Now(), CreatedAt: e.clock.Now(), LastSeenAt: e.clock.Now(),
		IdleExpiresAt: e.clock.Now().Add(time.Hour), AbsoluteExpiresAt: e.clock.Now().Add(12 * time.Hour)}
	if err := e.s.CreateSSOSession(e.ctx, s); err != nil {
		e.t.Fatalf("CreateSSOSession(%s): %v", id, err)
	}
}

// request builds a requester as fosite's handlers store it: a session with expiries
// for every token type, scopes, audience and a form that includes values the store
// must not keep.
func (e *env) request(c *storage.Client, id, sid string, scopes ...string) *fosite.Request {
	if len(scopes) == 0 {
		scopes = []string{"openid", "profile"}
	}
	sess := &Session{SID: sid}
	sess.Subject = "sub-" + id
	sess.Username = "agent." + id
	sess.Claims = &jwt.IDTokenClaims{Subject: sess.Subject, Issuer: "https://jc.example", AuthTime: T0.Add(-time.Minute),
		RequestedAt: T0, AuthenticationContextClassReference: "eidas2", Extra: map[string]interface{}{"role": "greffier"}}
	sess.Headers = &jwt.Headers{Extra: map[string]interface{}{"kid": "k1"}}
	sess.SetExpiresAt(fosite.AuthorizeCode, e.clock.Now().Add(time.Minute))
	sess.SetExpiresAt(fosite.AccessToken, e.clock.Now().Add(time.Hour))
	sess.SetExpiresAt(fosite.RefreshToken, e.clock.Now().Add(30*24*time.Hour))
	return &fosite.Request{
		ID:                id,
		RequestedAt:       e.clock.Now().Add(-2 * time.Second),
		Client:            c,
		RequestedScope:    fosite.Arguments(scopes),
		GrantedScope:      fosite.Arguments(scopes),
		RequestedAudience: fosite.Arguments{"https://api.justice.example"},
		GrantedAudience:   fosite.Arguments{"https://api.justice.example"},
		Form: url.Values{
			"response_type":  {"code"},
			"scope":          {"openid profile"},
			"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
			"redirect_uri":   {"https://rp.example/cb"},
			"state":          {"af0ifjsldkj"},
			// Credentials and raw tokens that must never reach the database.
			"client_secret":    {"s3cret"},
			"password":         {"hunter2"},
			"code_verifier":    {"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"},
			"client_assertion": {"eyJhbGciOiJFUzI1NiJ9.e30.sig"},
			"code":             {"raw-code"},
			"refresh_token":    {"raw-refresh"},
		},
		Session: sess,
	}
}

// strippedFormKeys are the form values the stores must drop.
var strippedFormKeys = []string{"client_secret", "password", "code_verifier", "client_assertion", "code", "refresh_token"}

// checkRequest compares a loaded requester with what was stored.
func (e *env) checkRequest(want *fosite.Request, got fosite.Requester) {
	e.t.Helper()
	if got == nil {
		e.t.Fatalf("requester is nil")
	}
	if got.GetID() != want.ID {
		e.t.Errorf("ID = %q, want %q", got.GetID(), want.ID)
	}
	if !got.GetRequestedAt().Equal(want.RequestedAt) {
		e.t.Errorf("RequestedAt = %v, want %v", got.GetRequestedAt(), want.RequestedAt)
	}
	gc, ok := got.GetClient().(*storage.Client)
	if !ok {
		e.t.Fatalf("client is %T, want *storage.Client", got.GetClient())
	}
	if gc.ID != want.Client.GetID() || gc.AccessTokenLifespan != want.Client.(*storage.Client).AccessTokenLifespan {
		e.t.Errorf("client = %+v, want %+v", gc, want.Client)
	}
	for _, f := range []struct {
		name      string
		got, want fosite.Arguments
	}{
		{"RequestedScopes", got.GetRequestedScopes(), want.RequestedScope},
		{"GrantedScopes", got.GetGrantedScopes(), want.GrantedScope},
		{"RequestedAudience", got.GetRequestedAudience(), want.RequestedAudience},
		{"GrantedAudience", got.GetGrantedAudience(), want.GrantedAudience},
	} {
		if !reflect.DeepEqual([]string(f.got), []string(f.want)) {
			e.t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
	wantForm := url.Values{}
	for k, v := range want.Form {
		wantForm[k] = v
	}
	for _, k := range strippedFormKeys {
		delete(wantForm, k)
	}
	if !reflect.DeepEqual(got.GetRequestForm(), wantForm) {
		e.t.Errorf("Form = %v, want %v", got.GetRequestForm(), wantForm)
	}
	gj, _ := json.Marshal(got.GetSession())
	wj, _ := json.Marshal(want.Session)
	if string(gj) != string(wj) {
		e.t.Errorf("session = %s\nwant %s", gj, wj)
	}
}

// wantErr fails unless errors.Is(err, want) (want nil: err must be nil).
func (e *env) wantErr(what string, err, want error) {
	e.t.Helper()
	if want == nil {
		if err != nil {
			e.t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		e.t.Fatalf("%s: error = %v, want %v", what, err, want)
	}
}

// parallel runs fn n times concurrently, all starting together, and returns the
// errors.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}(i)
	}
	close(start)
	wg.Wait()
	return errs
}

func countNil(errs []error) int {
	n := 0
	for _, err := range errs {
		if err == nil {
			n++
		}
	}
	return n
}

// CountMigrations counts the migration files in dir (a database package's
// embedded migrations, read from its source directory by its tests).
func CountMigrations(t testing.TB, dir string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations in %s: %v, %d files", dir, err, len(files))
	}
	return len(files)
}
