package storage

import (
	"log/slog"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
)

// Options are the dependencies both store implementations take at Open.
type Options struct {
	// NewSession makes an empty fosite session to decode a stored request into when
	// fosite passes a nil prototype to Get*Session (the revocation handler does, in
	// fosite v0.49.0 handler/oauth2/revocation.go). Defaults to an empty
	// openid.DefaultSession; the broker sets its own session type.
	NewSession func() fosite.Session
	// Now is the clock used for expiry decisions (one-time markers, client assertion
	// jti, timestamps the store sets). Defaults to time.Now.
	Now func() time.Time
	// Logger receives operational messages (migrations applied). Defaults to
	// slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns o with every unset field filled in.
func (o Options) WithDefaults() Options {
	if o.NewSession == nil {
		o.NewSession = func() fosite.Session { return &openid.DefaultSession{} }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
