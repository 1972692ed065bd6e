package oidc

import (
	"github.com/google/uuid"
	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/grants/tokenexchange"
)

// newRequestID names a grant: the request ID every token of one authorization
// (its code, access and refresh tokens, every rotation) is stored with, and by
// which a revocation finds them all (RFC 7009 §2.1). fosite draws a random UUID;
// a version 7 UUID (RFC 9562 §5.7) starts with the time in milliseconds, so each
// new grant's entry goes at the right edge of the request_id indexes instead of
// at a random leaf. On a store of a million tokens the random leaf is a page read
// and a page written per index per grant (docs/PERFORMANCE.md, "Rates with
// 1,000,000 stored rows"). The ID never leaves the broker except in its audit
// trail, whose events carry their time anyway; it keeps 74 random bits.
func newRequestID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// Only a failing random source; fosite's own ID is as good a name.
		return ""
	}
	return id.String()
}

// nameGrant gives a request that starts a grant a time-ordered ID. Requests that
// continue one (authorization code, refresh token) carry the ID fosite copied
// from the grant and are left alone.
func nameGrant(r fosite.Requester) {
	if ar, ok := r.(fosite.AccessRequester); ok {
		gt := ar.GetGrantTypes()
		if !gt.ExactOne("client_credentials") && !gt.ExactOne(tokenexchange.GrantType) {
			return
		}
	}
	if id := newRequestID(); id != "" {
		r.SetID(id)
	}
}
