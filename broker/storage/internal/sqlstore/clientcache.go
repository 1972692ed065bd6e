package sqlstore

import (
	"encoding/json"
	"slices"
	"sync"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// clientCacheMax bounds the decoded clients kept; a deployment has tens of clients,
// and a full cache is simply emptied.
const clientCacheMax = 512

// clientDecoder remembers decoded clients by their stored JSON. Every token request
// reads its client (fosite's client authentication, and again through the join of
// each stored grant), and decoding the JSON was a tenth of the token endpoint's CPU.
// Keying by the stored bytes themselves means a changed, rotated or deleted client is
// never served from the cache: the row read from the store decides, as before; only
// the decoding is skipped.
type clientDecoder struct {
	mu sync.Mutex
	m  map[string]*storage.Client
}

// decode returns a fresh copy of the client stored as data, which callers may change.
func (d *clientDecoder) decode(data string) (*storage.Client, error) {
	d.mu.Lock()
	c, ok := d.m[data]
	d.mu.Unlock()
	if !ok {
		c = new(storage.Client)
		if err := json.Unmarshal([]byte(data), c); err != nil {
			return nil, err
		}
		clipClient(c)
		d.mu.Lock()
		if d.m == nil || len(d.m) >= clientCacheMax {
			d.m = make(map[string]*storage.Client)
		}
		d.m[data] = c
		d.mu.Unlock()
	}
	cp := *c
	return &cp, nil
}

// clipClient drops the spare capacity of the client's slices, so that an append on
// a copy allocates instead of writing into an array the cached value shares.
func clipClient(c *storage.Client) {
	c.SecretHash = slices.Clip(c.SecretHash)
	c.RotatedSecretHashes = slices.Clip(c.RotatedSecretHashes)
	c.RedirectURIs = slices.Clip(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clip(c.PostLogoutRedirectURIs)
	c.GrantTypes = slices.Clip(c.GrantTypes)
	c.Scopes = slices.Clip(c.Scopes)
	c.Audience = slices.Clip(c.Audience)
	c.AllowedProviders = slices.Clip(c.AllowedProviders)
	c.AllowedProfessions = slices.Clip(c.AllowedProfessions)
	c.ExchangeSubjectTokens = slices.Clip(c.ExchangeSubjectTokens)
}
