package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ory/fosite"
	"golang.org/x/crypto/bcrypt"

	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// clientsFakeStore keeps clients in a map; the rest of storage.Store is the nil
// embedded interface, so any other call panics and shows up in the test.
type clientsFakeStore struct {
	storage.Store
	mu      sync.Mutex
	clients map[string]*storage.Client
	events  []*storage.AuditEvent
	closed  bool
}

func (s *clientsFakeStore) AppendAudit(ctx context.Context, e *storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *e
	s.events = append(s.events, &c)
	return nil
}

func (s *clientsFakeStore) copyOf(c *storage.Client) *storage.Client {
	b, _ := json.Marshal(c)
	var out storage.Client
	json.Unmarshal(b, &out)
	return &out
}

func (s *clientsFakeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return s.copyOf(c), nil
}

func (s *clientsFakeStore) CreateClient(ctx context.Context, c *storage.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return storage.ErrConflict
	}
	s.clients[c.ID] = s.copyOf(c)
	return nil
}

func (s *clientsFakeStore) UpsertClient(ctx context.Context, c *storage.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = s.copyOf(c)
	return nil
}

func (s *clientsFakeStore) UpdateClient(ctx context.Context, c *storage.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; !ok {
		return storage.ErrNotFound
	}
	s.clients[c.ID] = s.copyOf(c)
	return nil
}

func (s *clientsFakeStore) DeleteClient(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.clients, id)
	return nil
}

func (s *clientsFakeStore) ListClients(ctx context.Context) ([]*storage.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*storage.Client
	for _, c := range s.clients {
		out = append(out, s.copyOf(c))
	}
	return out, nil
}

func (s *clientsFakeStore) Close() error {
	s.closed = true
	return nil
}

// clientsFixture installs a fake store behind openStore and writes a valid
// configuration declaring one client (from-file) and the provider annuaire.
func clientsFixture(t *testing.T) (*clientsFakeStore, string) {
	t.Helper()
	store := &clientsFakeStore{clients: map[string]*storage.Client{
		"from-file": {ID: "from-file", Name: "Déclaré dans le fichier", Kind: "partner", Source: "config",
			SecretHash: []byte("$2a$10$fixture"), TokenEndpointAuthMethod: "client_secret_basic",
			RedirectURIs: []string{"https://rp.example/cb"}, GrantTypes: []string{"authorization_code"}},
	}}
	saved := openStore
	t.Cleanup(func() { openStore = saved })
	openStore = func(ctx context.Context, cfg *config.Config) (storage.Store, error) { return store, nil }
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "kek"), []byte("kek\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "salt"), []byte("salt\n"), 0o600)
	path := filepath.Join(dir, "justiceconnect.yaml")
	body := `
issuer: https://connect.example.justice.fr
store: {driver: sqlite, sqlite_path: "DIR/broker.db"}
keys: {kek: {file: "DIR/kek"}}
pairwise_salt: {file: "DIR/salt"}
api_scopes: ["detenus:read"]
providers:
  - {id: annuaire, type: ldap, label: "Agent du ministère"}
clients:
  - {client_id: from-file, name: F, secret: {file: "DIR/salt"}, redirect_uris: ["https://rp.example/cb"], scopes: [openid]}
`
	os.WriteFile(path, []byte(strings.ReplaceAll(body, "DIR", dir)), 0o600)
	return store, path
}

func runClientsTest(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runClients(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestClientsAdd(t *testing.T) {
	store, cfg := clientsFixture(t)
	code, stdout, stderr := runClientsTest(t, "add", "--config", cfg, "--json", "--id", "mediation", "--name", "Médiation",
		"--redirect-uri", "https://mediation.example/cb", "--redirect-uri", "http://127.0.0.1:8000/cb", "--scope", "openid", "--scope", "profession")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var out struct {
		ClientID string `json:"client_id"`
		Secret   string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if out.ClientID != "mediation" || len(out.Secret) != 43 { // 32 bytes, base64url without padding
		t.Errorf("output %+v", out)
	}
	c := store.clients["mediation"]
	if c == nil {
		t.Fatal("client not stored")
	}
	if bytes.Contains(c.SecretHash, []byte(out.Secret)) || bcrypt.CompareHashAndPassword(c.SecretHash, []byte(out.Secret)) != nil {
		t.Errorf("stored hash does not verify the printed secret, or holds it in clear")
	}
	if cost, _ := bcrypt.Cost(c.SecretHash); cost < config.MinBcryptCost {
		t.Errorf("bcrypt cost %d", cost)
	}
	if c.Source != "cli" || c.Kind != "partner" || c.SubjectType != "pairwise" || c.TokenEndpointAuthMethod != "client_secret_basic" ||
		strings.Join(c.GrantTypes, " ") != "authorization_code refresh_token" || strings.Join(c.Scopes, " ") != "openid profession" ||
		c.CreatedAt.IsZero() {
		t.Errorf("stored client %+v", c)
	}
	if strings.Contains(stderr, out.Secret) {
		t.Errorf("secret printed twice")
	}
	if !store.closed {
		t.Errorf("store not closed")
	}

	// The text form shows the secret once too.
	code, stdout, _ = runClientsTest(t, "add", "--config", cfg, "--id", "api.detenus", "--name", "API", "--kind", "first_party",
		"--grant-type", "client_credentials", "--scope", "detenus:read", "--audience", "https://api.detenus.example")
	if code != 0 || strings.Count(stdout, "Secret") != 1 {
		t.Errorf("text add: exit %d\n%s", code, stdout)
	}
	secret := strings.TrimSpace(stdout[strings.LastIndex(stdout, " ")+1:])
	if bcrypt.CompareHashAndPassword(store.clients["api.detenus"].SecretHash, []byte(secret)) != nil {
		t.Errorf("text add: the printed secret does not verify")
	}

	// A public client gets no secret.
	code, stdout, stderr = runClientsTest(t, "add", "--config", cfg, "--json", "--id", "native", "--name", "App",
		"--auth-method", "none", "--redirect-uri", "http://[::1]/cb")
	if code != 0 || strings.Contains(stdout, "client_secret") || store.clients["native"] == nil || !store.clients["native"].Public ||
		store.clients["native"].SecretHash != nil {
		t.Errorf("public client: exit %d %s %s", code, stdout, stderr)
	}
}

func TestClientsAddRefused(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"duplicate in store", []string{"--id", "dup", "--name", "D", "--redirect-uri", "https://rp.example/cb"}, []string{`a client "dup" already exists`}},
		{"declared in the file", []string{"--id", "from-file", "--name", "D", "--redirect-uri", "https://rp.example/cb"}, []string{`client_id: "from-file" is declared in the configuration file`}},
		{"http redirect URI", []string{"--id", "bad", "--name", "B", "--redirect-uri", "http://example.org/cb"},
			[]string{"redirect_uris[0]: must be an absolute https URL (loopback http allowed)"}},
		{"every problem", []string{"--id", "x", "--redirect-uri", "https://rp.example/cb#f", "--scope", "admin", "--grant-type", "password"},
			[]string{"client_id:", "name: required", "redirect_uris[0]: must not contain a fragment", "scopes[0]:", "grant_types[0]:"}},
		{"no redirect URI", []string{"--id", "nouri", "--name", "N"}, []string{"redirect_uris: required with the authorization_code grant"}},
		{"private_key_jwt without keys", []string{"--id", "jwt", "--name", "J", "--auth-method", "private_key_jwt", "--grant-type", "client_credentials", "--scope", "openid"},
			[]string{"jwks_file: required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store, cfg := clientsFixture(t)
			store.clients["dup"] = &storage.Client{ID: "dup", Source: "cli"}
			before := len(store.clients)
			code, stdout, stderr := runClientsTest(t, append([]string{"add", "--config", cfg}, tc.args...)...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if stdout != "" || len(store.clients) != before {
				t.Errorf("refused add printed %q or stored a client", stdout)
			}
		})
	}
}

func TestClientsRotateSecret(t *testing.T) {
	store, cfg := clientsFixture(t)
	code, stdout, _ := runClientsTest(t, "add", "--config", cfg, "--json", "--id", "rp2", "--name", "RP", "--redirect-uri", "https://rp.example/cb")
	if code != 0 {
		t.Fatal("add failed")
	}
	var first, second, third struct {
		Secret string `json:"client_secret"`
	}
	json.Unmarshal([]byte(stdout), &first)
	firstHash := store.clients["rp2"].SecretHash

	code, stdout, stderr := runClientsTest(t, "rotate-secret", "--config", cfg, "--json", "--id", "rp2", "--keep-old")
	if code != 0 {
		t.Fatalf("rotate: exit %d %s", code, stderr)
	}
	json.Unmarshal([]byte(stdout), &second)
	c := store.clients["rp2"]
	if second.Secret == "" || second.Secret == first.Secret || bcrypt.CompareHashAndPassword(c.SecretHash, []byte(second.Secret)) != nil {
		t.Errorf("new secret does not verify")
	}
	if len(c.RotatedSecretHashes) != 1 || !bytes.Equal(c.RotatedSecretHashes[0], firstHash) {
		t.Errorf("--keep-old: rotated hashes %q", c.RotatedSecretHashes)
	}

	code, stdout, _ = runClientsTest(t, "rotate-secret", "--config", cfg, "--id", "rp2")
	if code != 0 || !strings.Contains(stdout, "no longer works") {
		t.Fatalf("rotate without --keep-old: exit %d %s", code, stdout)
	}
	third.Secret = strings.TrimSpace(stdout[strings.LastIndex(stdout, " ")+1:])
	c = store.clients["rp2"]
	if len(c.RotatedSecretHashes) != 0 || bcrypt.CompareHashAndPassword(c.SecretHash, []byte(third.Secret)) != nil {
		t.Errorf("rotation without --keep-old kept old secrets: %d", len(c.RotatedSecretHashes))
	}

	for _, tc := range []struct{ id, want string }{
		{"from-file", "declared in the configuration file"},
		{"nobody", `no client "nobody"`},
		{"", "--id is required"},
	} {
		code, _, stderr := runClientsTest(t, "rotate-secret", "--config", cfg, "--id", tc.id)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("rotate %q: exit %d, %s", tc.id, code, stderr)
		}
	}
	if string(store.clients["from-file"].SecretHash) != "$2a$10$fixture" {
		t.Errorf("a config client's secret changed")
	}
}

func TestClientsDelete(t *testing.T) {
	store, cfg := clientsFixture(t)
	store.clients["old"] = &storage.Client{ID: "old", Source: "cli"}
	code, _, stderr := runClientsTest(t, "delete", "--config", cfg, "--id", "from-file")
	if code != 1 || !strings.Contains(stderr, "declared in the configuration file") || store.clients["from-file"] == nil {
		t.Errorf("delete of a config client: exit %d %s", code, stderr)
	}
	code, stdout, _ := runClientsTest(t, "delete", "--config", cfg, "--json", "--id", "old")
	var out map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &out) != nil || out["deleted"] != true || store.clients["old"] != nil {
		t.Errorf("delete: exit %d %s", code, stdout)
	}
	if code, _, _ := runClientsTest(t, "delete", "--config", cfg, "--id", "old"); code != 1 {
		t.Errorf("second delete: exit %d", code)
	}
}

func TestClientsList(t *testing.T) {
	_, cfg := clientsFixture(t)
	runClientsTest(t, "add", "--config", cfg, "--id", "b-client", "--name", "B", "--redirect-uri", "https://b.example/cb")
	code, stdout, _ := runClientsTest(t, "list", "--config", cfg, "--json")
	var views []map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &views) != nil || len(views) != 2 {
		t.Fatalf("list --json: exit %d\n%s", code, stdout)
	}
	if views[0]["client_id"] != "b-client" || views[0]["source"] != "cli" || views[1]["source"] != "config" {
		t.Errorf("list order or sources: %v", views)
	}
	if strings.Contains(stdout, "secret_hash") || strings.Contains(stdout, "$2a$") {
		t.Errorf("list shows secret hashes:\n%s", stdout)
	}
	code, stdout, _ = runClientsTest(t, "list", "--config", cfg)
	for _, want := range []string{"CLIENT ID", "b-client", "https://b.example/cb", "authorization_code refresh_token", "from-file", "config"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	if code != 0 {
		t.Errorf("list: exit %d", code)
	}
}

func TestClientsUsage(t *testing.T) {
	_, cfg := clientsFixture(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"list"}, 2, "--config is required"},
		{[]string{"list", "--config", cfg + ".missing"}, 1, "no such file"},
	} {
		code, _, stderr := runClientsTest(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %s", tc.args, code, stderr)
		}
	}
	openStore = nil
	if code, _, stderr := runClientsTest(t, "list", "--config", cfg); code != 1 || !strings.Contains(stderr, "no store") {
		t.Errorf("nil openStore: exit %d %s", code, stderr)
	}
}
