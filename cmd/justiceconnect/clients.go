package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// openStore opens the store the configuration names; the broker's wiring sets it.
var openStore func(ctx context.Context, cfg *config.Config) (storage.Store, error)

// Sources of stored clients.
const (
	sourceConfig = "config"
	sourceCLI    = "cli"
)

// clientSecretBytes is the entropy of a generated client secret (256 bits).
const clientSecretBytes = 32

// clientNow is the clock of the clients command (tests replace it).
var clientNow = time.Now

const clientsUsage = `usage: justiceconnect clients COMMAND --config FILE [--json] [flags]

commands:
  add            --id ID --name NAME [--kind partner|first_party] [--organization ORG]
                 --redirect-uri URI ... [--post-logout-redirect-uri URI ...]
                 [--scope SCOPE ...] [--grant-type GRANT ...] [--audience URL ...]
                 [--auth-method client_secret_basic|client_secret_post|private_key_jwt|none]
                 [--jwks-file FILE]
                 prints the generated secret once; only its bcrypt hash is stored
  list           every client in the store
  rotate-secret  --id ID [--keep-old]   a new secret; --keep-old still accepts the previous one
  delete         --id ID

add, rotate-secret and delete take --reason TEXT and are recorded in the audit
trail (admin.client) with the operator's OS user name.
`

// runClients is "justiceconnect clients": the OAuth clients kept in the store.
// Clients declared in the configuration file (source "config") are rewritten at
// every start, so they are changed in the file, not here.
func runClients(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, clientsUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub := args[0]
	fs := flag.NewFlagSet("clients "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cmd := &clientsCmd{stdout: stdout, stderr: stderr}
	path := fs.String("config", "", "configuration file (YAML)")
	fs.BoolVar(&cmd.json, "json", false, "JSON output, for scripts")
	if sub == "add" || sub == "rotate-secret" || sub == "delete" {
		fs.StringVar(&cmd.reason, "reason", "", "why, recorded in the audit trail")
	}
	var run func(ctx context.Context, store storage.Store, cfg *config.Config) int
	switch sub {
	case "add":
		a := &addFlags{}
		fs.StringVar(&a.cc.ClientID, "id", "", "client_id")
		fs.StringVar(&a.cc.Name, "name", "", "name shown on the consent page")
		fs.StringVar(&a.cc.Organization, "organization", "", "organisation shown on the consent page")
		fs.StringVar(&a.cc.Kind, "kind", config.KindPartner, "partner or first_party")
		fs.StringVar(&a.cc.TokenEndpointAuthMethod, "auth-method", config.AuthSecretBasic, "token endpoint authentication method")
		fs.StringVar(&a.cc.JWKSFile, "jwks-file", "", "the client's public keys (private_key_jwt)")
		fs.Var((*listFlag)(&a.cc.RedirectURIs), "redirect-uri", "redirect URI (repeatable)")
		fs.Var((*listFlag)(&a.cc.PostLogoutRedirectURIs), "post-logout-redirect-uri", "post-logout redirect URI (repeatable)")
		fs.Var((*listFlag)(&a.cc.Scopes), "scope", "scope (repeatable; default openid profile email with authorization_code)")
		fs.Var((*listFlag)(&a.cc.GrantTypes), "grant-type", "grant type (repeatable; default authorization_code refresh_token)")
		fs.Var((*listFlag)(&a.cc.Audience), "audience", "API this client may ask tokens for (repeatable)")
		run = cmd.add(a)
	case "list":
		run = cmd.list
	case "rotate-secret":
		id := fs.String("id", "", "client_id")
		keepOld := fs.Bool("keep-old", false, "keep accepting the previous secret until the next rotation")
		run = func(ctx context.Context, store storage.Store, cfg *config.Config) int {
			return cmd.rotate(ctx, store, *id, *keepOld)
		}
	case "delete":
		id := fs.String("id", "", "client_id")
		run = func(ctx context.Context, store storage.Store, cfg *config.Config) int {
			return cmd.delete(ctx, store, *id)
		}
	default:
		fmt.Fprintf(stderr, "justiceconnect clients: unknown command %q\n\n%s", sub, clientsUsage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "justiceconnect clients %s: unexpected argument %q\n", sub, fs.Arg(0))
		return 2
	}
	if *path == "" {
		fmt.Fprintf(stderr, "justiceconnect clients %s: --config is required\n", sub)
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect clients: %s:\n%v\n", *path, err)
		return 1
	}
	if openStore == nil {
		fmt.Fprintln(stderr, "justiceconnect clients: this build has no store (openStore is not wired)")
		return 1
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect clients: open the store: %v\n", err)
		return 1
	}
	defer store.Close()
	return run(ctx, store, cfg)
}

type clientsCmd struct {
	stdout, stderr io.Writer
	json           bool
	reason         string
}

// record appends the admin.client event of action on client id; err is the
// store's error when the action failed. It returns the append error.
func (c *clientsCmd) record(ctx context.Context, store storage.AuditStore, action, id string, err error, details map[string]string) error {
	ev := storage.AuditEvent{Type: audit.ClientAdmin, Outcome: audit.OutcomeOK, ClientID: id, Details: details}
	if err != nil {
		ev.Outcome = audit.OutcomeFail
	}
	return recordAdmin(ctx, store, ev, action, c.reason)
}

// recorded reports an action done but not recorded in the audit trail (exit 1).
func (c *clientsCmd) recorded(action, id string, auditErr error) int {
	if auditErr == nil {
		return 0
	}
	return c.fail("%s: client %s done, but the audit event was not recorded: %v", action, id, auditErr)
}

type addFlags struct{ cc config.ClientConfig }

// fail prints a message for people and returns the exit code 1.
func (c *clientsCmd) fail(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "justiceconnect clients: "+format+"\n", args...)
	return 1
}

func (c *clientsCmd) add(a *addFlags) func(ctx context.Context, store storage.Store, cfg *config.Config) int {
	return func(ctx context.Context, store storage.Store, cfg *config.Config) int {
		cc := a.cc
		config.ApplyClientDefaults(&cc)
		if len(cc.Scopes) == 0 && slices.Contains(cc.GrantTypes, config.GrantAuthorizationCode) {
			cc.Scopes = []string{"openid", "profile", "email"}
		}
		var secret string
		if usesSecret(cc.TokenEndpointAuthMethod) {
			var hash []byte
			var err error
			if secret, hash, err = newClientSecret(); err != nil {
				return c.fail("generate a secret: %v", err)
			}
			cc.SecretHash = string(hash)
		}
		// The same rules as clients declared in the file (A25: the registry is
		// vetted, redirect URIs exact and https).
		problems := cfg.ValidateClient(cc, "")
		if slices.ContainsFunc(cfg.Clients, func(o config.ClientConfig) bool { return o.ClientID == cc.ClientID }) {
			problems = append(problems, config.Problem{Path: "client_id", Message: fmt.Sprintf("%q is declared in the configuration file", cc.ClientID)})
		}
		if len(problems) > 0 {
			fmt.Fprintf(c.stderr, "justiceconnect clients add: %d problem(s):\n", len(problems))
			for _, p := range problems {
				fmt.Fprintf(c.stderr, "  %s\n", p)
			}
			return 1
		}
		sc, err := config.ToStorageClient(cc, nil)
		if err != nil {
			return c.fail("add %s: %v", cc.ClientID, err)
		}
		sc.Source = sourceCLI
		sc.CreatedAt = clientNow().UTC()
		sc.UpdatedAt = sc.CreatedAt
		err = store.CreateClient(ctx, sc)
		auditErr := c.record(ctx, store, "add", cc.ClientID, err, map[string]string{
			"kind": cc.Kind, "auth_method": cc.TokenEndpointAuthMethod, "redirect_uris": strings.Join(cc.RedirectURIs, " "),
			"grant_types": strings.Join(cc.GrantTypes, " "), "scopes": strings.Join(cc.Scopes, " ")})
		if err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return c.fail("add: a client %q already exists", cc.ClientID)
			}
			return c.fail("add %s: %v", cc.ClientID, err)
		}
		code := c.printSecret(cc.ClientID, secret, "created")
		if auditErr != nil {
			return c.recorded("add", cc.ClientID, auditErr)
		}
		return code
	}
}

func usesSecret(method string) bool {
	return method == config.AuthSecretBasic || method == config.AuthSecretPost
}

// newClientSecret returns a random secret (base64url, no padding) and its bcrypt
// hash.
func newClientSecret() (string, []byte, error) {
	raw := make([]byte, clientSecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	hash, err := bcrypt.GenerateFromPassword([]byte(secret), max(bcrypt.DefaultCost, config.MinBcryptCost))
	return secret, hash, err
}

// printSecret shows a new secret once: it is not kept anywhere in clear.
func (c *clientsCmd) printSecret(id, secret, what string) int {
	if c.json {
		out := map[string]string{"client_id": id}
		if secret != "" {
			out["client_secret"] = secret
		}
		return c.printJSON(out)
	}
	fmt.Fprintf(c.stdout, "Client %s %s.\n", id, what)
	if secret != "" {
		fmt.Fprintf(c.stdout, "Secret (shown only now, store it safely): %s\n", secret)
	}
	return 0
}

func (c *clientsCmd) printJSON(v any) int {
	if err := writeJSON(c.stdout, v); err != nil {
		return c.fail("%v", err)
	}
	return 0
}

// clientView is what list shows: never a secret hash.
type clientView struct {
	ClientID     string    `json:"client_id"`
	Name         string    `json:"name"`
	Organization string    `json:"organization,omitempty"`
	Kind         string    `json:"kind"`
	Source       string    `json:"source"`
	AuthMethod   string    `json:"token_endpoint_auth_method"`
	RedirectURIs []string  `json:"redirect_uris"`
	GrantTypes   []string  `json:"grant_types"`
	Scopes       []string  `json:"scopes"`
	Rotating     bool      `json:"previous_secret_accepted,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func (c *clientsCmd) list(ctx context.Context, store storage.Store, cfg *config.Config) int {
	clients, err := store.ListClients(ctx)
	if err != nil {
		return c.fail("list: %v", err)
	}
	slices.SortFunc(clients, func(a, b *storage.Client) int { return strings.Compare(a.ID, b.ID) })
	views := make([]clientView, 0, len(clients))
	for _, cl := range clients {
		views = append(views, clientView{
			ClientID: cl.ID, Name: cl.Name, Organization: cl.Organization, Kind: cl.Kind, Source: cl.Source,
			AuthMethod: cl.TokenEndpointAuthMethod, RedirectURIs: nonNil(cl.RedirectURIs), GrantTypes: nonNil(cl.GrantTypes),
			Scopes: nonNil(cl.Scopes), Rotating: len(cl.RotatedSecretHashes) > 0, UpdatedAt: cl.UpdatedAt,
		})
	}
	if c.json {
		return c.printJSON(views)
	}
	if len(views) == 0 {
		fmt.Fprintln(c.stdout, "No client in the store.")
		return 0
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		rows = append(rows, []string{v.ClientID, v.Name, v.Kind, v.Source, strings.Join(v.RedirectURIs, " "), strings.Join(v.GrantTypes, " ")})
	}
	if err := writeTable(c.stdout, []string{"CLIENT ID", "NAME", "KIND", "SOURCE", "REDIRECT URIS", "GRANT TYPES"}, rows); err != nil {
		return c.fail("%v", err)
	}
	return 0
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cliClient finds a client that the CLI may change: one it added, not one the
// configuration file declares (the next start would restore it).
func (c *clientsCmd) cliClient(ctx context.Context, store storage.Store, id, action string) (*storage.Client, int) {
	if id == "" {
		return nil, c.fail("%s: --id is required", action)
	}
	fc, err := store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, c.fail("%s: no client %q", action, id)
	}
	if err != nil {
		return nil, c.fail("%s %s: %v", action, id, err)
	}
	cl, ok := fc.(*storage.Client)
	if !ok {
		return nil, c.fail("%s %s: the store returned a %T", action, id, fc)
	}
	if cl.Source == sourceConfig {
		return nil, c.fail("%s: client %q is declared in the configuration file; change it there (the file restores it at every start)", action, id)
	}
	return cl, 0
}

func (c *clientsCmd) rotate(ctx context.Context, store storage.Store, id string, keepOld bool) int {
	cl, code := c.cliClient(ctx, store, id, "rotate-secret")
	if cl == nil {
		return code
	}
	if !usesSecret(cl.TokenEndpointAuthMethod) {
		return c.fail("rotate-secret: client %q authenticates with %s and has no secret", id, cl.TokenEndpointAuthMethod)
	}
	secret, hash, err := newClientSecret()
	if err != nil {
		return c.fail("generate a secret: %v", err)
	}
	// Only the secret just replaced stays valid with --keep-old: each rotation
	// ends the one before, so old secrets do not pile up.
	cl.RotatedSecretHashes = nil
	if keepOld && len(cl.SecretHash) > 0 {
		cl.RotatedSecretHashes = [][]byte{cl.SecretHash}
	}
	cl.SecretHash = hash
	cl.UpdatedAt = clientNow().UTC()
	err = store.UpdateClient(ctx, cl)
	auditErr := c.record(ctx, store, "rotate-secret", id, err, map[string]string{"keep_old": strconv.FormatBool(keepOld)})
	if err != nil {
		return c.fail("rotate-secret %s: %v", id, err)
	}
	what := "has a new secret; the previous one no longer works"
	if keepOld {
		what = "has a new secret; the previous one works until the next rotation"
	}
	code = c.printSecret(id, secret, what)
	if auditErr != nil {
		return c.recorded("rotate-secret", id, auditErr)
	}
	return code
}

func (c *clientsCmd) delete(ctx context.Context, store storage.Store, id string) int {
	cl, code := c.cliClient(ctx, store, id, "delete")
	if cl == nil {
		return code
	}
	err := store.DeleteClient(ctx, id)
	auditErr := c.record(ctx, store, "delete", id, err, nil)
	if err != nil {
		return c.fail("delete %s: %v", id, err)
	}
	if c.json {
		c.printJSON(map[string]any{"client_id": id, "deleted": true})
	} else {
		fmt.Fprintf(c.stdout, "Client %s deleted.\n", id)
	}
	return c.recorded("delete", id, auditErr)
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, " ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}
