package release

import (
	"crypto/sha256"
	"encoding/base32"
	"net/url"
	"strings"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/claims"
)

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Subject returns the sub a client sees. Pairwise subjects (OIDC Core 8.1) are
// sha256(sector || sub || salt), so two partners of different sectors cannot
// correlate users, while clients of one sector share them.
func Subject(c *storage.Client, publicSubject string, salt []byte) string {
	if c.SubjectType != "pairwise" {
		return publicSubject
	}
	h := sha256.New()
	h.Write([]byte(Sector(c)))
	h.Write([]byte{0})
	h.Write([]byte(publicSubject))
	h.Write([]byte{0})
	h.Write(salt)
	return strings.ToLower(encoding.EncodeToString(h.Sum(nil)[:20]))
}

// Sector is the client's sector identifier: the configured one, else the host of
// its first redirect URI (OIDC Core 8.1), else its client ID.
func Sector(c *storage.Client) string {
	if c.SectorIdentifier != "" {
		if u, err := url.Parse(c.SectorIdentifier); err == nil && u.Host != "" {
			return u.Host
		}
		return c.SectorIdentifier
	}
	for _, r := range c.RedirectURIs {
		if u, err := url.Parse(r); err == nil && u.Hostname() != "" {
			return u.Hostname()
		}
	}
	return c.ID
}

// Claims keeps the claims that the granted scopes release. A claim no scope names is
// never released.
func Claims(granted []string, all map[string]any) map[string]any {
	out := map[string]any{}
	for _, scope := range granted {
		for _, name := range claims.ScopeClaims(scope) {
			if v, ok := all[name]; ok {
				out[name] = v
			}
		}
	}
	return out
}
