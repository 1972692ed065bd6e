package claims

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultIntrospectionCacheTTL is how long an introspection answer is reused.
const DefaultIntrospectionCacheTTL = 30 * time.Second

// maxIntrospectionCache bounds the number of cached answers.
const maxIntrospectionCache = 10000

// maxIntrospectionBytes bounds an introspection response body.
const maxIntrospectionBytes = 1 << 20

// IntrospectionConfig configures RFC 7662 introspection of opaque tokens.
type IntrospectionConfig struct {
	// URL is the issuer's introspection endpoint (ours: Issuer+"/token/introspection").
	URL string
	// ClientID and ClientSecret authenticate this API to the endpoint with
	// HTTP Basic (RFC 7662 §2.1, RFC 6749 §2.3.1).
	ClientID     string
	ClientSecret string
	// CacheTTL is how long an answer is reused, keyed by the token's SHA-256 so
	// the cache holds no usable token; never past the token's exp. Default 30 s.
	CacheTTL time.Duration
}

// introEntry is the issuer's answer, kept as given: the rules are applied at
// each use, so that a token refused as not yet valid is accepted once its nbf
// has passed, without waiting for the entry to expire.
type introEntry struct {
	claims  *Claims
	active  bool
	expires time.Time
}

type introspector struct {
	cfg    IntrospectionConfig
	ttl    time.Duration
	client *http.Client
	now    func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]introEntry
	calls int
}

func newIntrospector(cfg IntrospectionConfig) (*introspector, error) {
	if err := checkIssuerURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("URL: %w", err)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("ClientID and ClientSecret required (RFC 7662 §2.1)")
	}
	if cfg.CacheTTL < 0 {
		return nil, errors.New("CacheTTL must not be negative")
	}
	return &introspector{cfg: cfg, ttl: orDefault(cfg.CacheTTL, DefaultIntrospectionCacheTTL), cache: map[[sha256.Size]byte]introEntry{}}, nil
}

// introspect asks the issuer about an opaque token (RFC 7662 §2), then applies
// the same issuer, audience and time rules as for JWTs. "active": false (or
// anything but true) is a refusal (RFC 7662 §2.2), cached like an answer.
func (v *Verifier) introspect(ctx context.Context, token string) (*Claims, error) {
	in := v.intro
	key := sha256.Sum256([]byte(token))
	now := in.now()
	in.mu.Lock()
	e, ok := in.cache[key]
	in.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		c, err := in.call(ctx, token)
		if err != nil {
			return nil, err
		}
		active, _ := c.Extra["active"].(bool)
		delete(c.Extra, "active")
		if len(c.Extra) == 0 {
			c.Extra = nil
		}
		e = introEntry{claims: c, active: active, expires: now.Add(in.ttl)}
		if active && c.Expiry != nil && c.Expiry.Time().Before(e.expires) {
			e.expires = c.Expiry.Time()
		}
		in.store(key, e, now)
	}
	if !e.active {
		return nil, invalid(ErrInactive, "introspection says active is false")
	}
	if err := v.checkIntrospected(e.claims); err != nil {
		return nil, err
	}
	out := *e.claims
	return &out, nil
}

// checkIntrospected applies the JWT rules to an introspection answer, with the
// members RFC 7662 §2.2 makes optional checked only when present, except aud:
// without it the token could be meant for any API (RFC 9700 §2.3).
func (v *Verifier) checkIntrospected(c *Claims) error {
	if c.Issuer != "" && c.Issuer != v.issuer {
		return invalid(ErrWrongIssuer, fmt.Sprintf("iss %q", c.Issuer))
	}
	if !slices.Contains(c.Audience, v.audience) {
		return invalid(ErrWrongAudience, fmt.Sprintf("aud %q does not contain %q", c.Audience, v.audience))
	}
	return v.checkTimes(c)
}

func (in *introspector) store(key [sha256.Size]byte, e introEntry, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.cache) >= maxIntrospectionCache {
		for k, old := range in.cache {
			if !now.Before(old.expires) {
				delete(in.cache, k)
			}
		}
		// Still full: drop about half, in map order. Losing entries only costs
		// extra calls.
		for k := range in.cache {
			if len(in.cache) < maxIntrospectionCache/2 {
				break
			}
			delete(in.cache, k)
		}
	}
	in.cache[key] = e
}

func (in *introspector) call(ctx context.Context, token string) (*Claims, error) {
	in.mu.Lock()
	in.calls++
	in.mu.Unlock()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.cfg.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIntrospectionUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: client_id and secret are form-urlencoded before Basic.
	req.SetBasicAuth(url.QueryEscape(in.cfg.ClientID), url.QueryEscape(in.cfg.ClientSecret))
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIntrospectionUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %d", ErrIntrospectionUnavailable, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIntrospectionUnavailable, err)
	}
	if len(body) > maxIntrospectionBytes {
		return nil, fmt.Errorf("%w: response too large", ErrIntrospectionUnavailable)
	}
	c := new(Claims)
	if err := c.decode(body); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIntrospectionUnavailable, err)
	}
	return c, nil
}
