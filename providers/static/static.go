package static

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/justiceconnect/justiceconnect/providers"
)

// User is one development account.
type User struct {
	Username string `yaml:"username"`
	// PasswordHash is a bcrypt hash ($2a$/$2b$/$2y$).
	PasswordHash string `yaml:"password_hash"`
	// Subject is the stable upstream subject; defaults to "static:" + username.
	Subject    string              `yaml:"subject"`
	Attributes map[string][]string `yaml:"attributes"`
	Disabled   bool                `yaml:"disabled"`
}

// Config is the provider's settings block.
type Config struct {
	Users []User `yaml:"users"`
}

// Validate lists every problem of the settings, with paths relative to settings.
func (c Config) Validate() []string {
	var problems []string
	seen := map[string]bool{}
	if len(c.Users) == 0 {
		problems = append(problems, "users: at least one user is required")
	}
	for i, u := range c.Users {
		p := fmt.Sprintf("users[%d]", i)
		if strings.TrimSpace(u.Username) == "" {
			problems = append(problems, p+".username: required")
		} else if seen[u.Username] {
			problems = append(problems, p+".username: duplicate "+u.Username)
		}
		seen[u.Username] = true
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			problems = append(problems, p+".password_hash: must be a bcrypt hash (htpasswd -nbB or justiceconnect demo output)")
		}
	}
	return problems
}

// Provider checks passwords against the configured users.
type Provider struct {
	users map[string]User
	now   func() time.Time
	// dummyHash is compared when the user is unknown, so that unknown users and
	// wrong passwords take the same time (SECURITY.md D11).
	dummyHash []byte
}

var _ providers.PasswordProvider = (*Provider)(nil)
var _ providers.Refresher = (*Provider)(nil)

// New builds the provider; cfg must have passed Validate.
func New(cfg Config, now func() time.Time) (*Provider, error) {
	if problems := cfg.Validate(); len(problems) > 0 {
		return nil, fmt.Errorf("static: invalid settings: %s", strings.Join(problems, "; "))
	}
	if now == nil {
		now = time.Now
	}
	p := &Provider{users: map[string]User{}, now: now}
	cost := bcrypt.DefaultCost
	for _, u := range cfg.Users {
		if u.Subject == "" {
			u.Subject = "static:" + u.Username
		}
		p.users[u.Username] = u
		if c, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil {
			cost = c
		}
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("no such user"), cost)
	if err != nil {
		return nil, fmt.Errorf("static: dummy hash: %w", err)
	}
	p.dummyHash = dummy
	return p, nil
}

// Check always succeeds: the users are in memory.
func (p *Provider) Check(context.Context) error { return nil }

// Login verifies the password. Empty credentials are refused before any comparison.
func (p *Provider) Login(_ context.Context, username, password string) (providers.Identity, error) {
	if username == "" || password == "" {
		return providers.Identity{}, fmt.Errorf("static: login: %w", providers.ErrBadCredentials)
	}
	u, ok := p.users[username]
	hash := p.dummyHash
	if ok {
		hash = []byte(u.PasswordHash)
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if !ok || err != nil {
		return providers.Identity{}, fmt.Errorf("static: login: %w", providers.ErrBadCredentials)
	}
	if u.Disabled {
		return providers.Identity{}, fmt.Errorf("static: login: %w", providers.ErrAccountDisabled)
	}
	return p.identity(u), nil
}

// Refresh re-reads the user, so that a user removed or disabled in the
// configuration stops getting tokens.
func (p *Provider) Refresh(_ context.Context, previous providers.Identity) (providers.Identity, error) {
	for _, u := range p.users {
		if u.Subject == previous.Subject {
			if u.Disabled {
				return providers.Identity{}, fmt.Errorf("static: refresh: %w", providers.ErrAccountDisabled)
			}
			id := p.identity(u)
			id.Authn = previous.Authn
			return id, nil
		}
	}
	return providers.Identity{}, fmt.Errorf("static: refresh: %w", providers.ErrUnknownUser)
}

func (p *Provider) identity(u User) providers.Identity {
	attrs := make(map[string][]string, len(u.Attributes))
	for k, v := range u.Attributes {
		attrs[k] = append([]string(nil), v...)
	}
	return providers.Identity{
		Subject:    u.Subject,
		Username:   u.Username,
		Attributes: attrs,
		Authn:      providers.Authn{Time: p.now().UTC().Truncate(time.Second), Methods: []string{"pwd"}},
	}
}

// ErrNotDevelopment is returned by the broker's wiring when a static provider is
// configured outside development mode.
var ErrNotDevelopment = errors.New("static: development users are refused outside development mode")
