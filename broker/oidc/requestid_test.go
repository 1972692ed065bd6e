package oidc

import (
	"testing"

	"github.com/google/uuid"
	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/grants/tokenexchange"
)

func TestNameGrant(t *testing.T) {
	tests := []struct {
		name    string
		req     fosite.Requester
		renamed bool
	}{
		{"authorization request", fosite.NewAuthorizeRequest(), true},
		{"client_credentials", accessRequest("client_credentials"), true},
		{"token exchange", accessRequest(tokenexchange.GrantType), true},
		// These continue a grant: fosite copied its ID from the code or the
		// refresh token, and a revocation by request ID must still find them.
		{"authorization_code", accessRequest("authorization_code"), false},
		{"refresh_token", accessRequest("refresh_token"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.SetID("grant-of-the-code")
			nameGrant(tc.req)
			got := tc.req.GetID()
			if !tc.renamed {
				if got != "grant-of-the-code" {
					t.Errorf("ID = %q, want it kept", got)
				}
				return
			}
			id, err := uuid.Parse(got)
			if err != nil || id.Version() != 7 {
				t.Errorf("ID = %q, want a version 7 UUID (err %v)", got, err)
			}
		})
	}
}

// The IDs of grants named one after the other sort in that order, as the
// request_id indexes receive them.
func TestNewRequestIDOrdered(t *testing.T) {
	prev := newRequestID()
	for range 1000 {
		id := newRequestID()
		if id <= prev {
			t.Fatalf("request ID %q after %q: not increasing", id, prev)
		}
		prev = id
	}
}

func accessRequest(grantType string) *fosite.AccessRequest {
	r := fosite.NewAccessRequest(nil)
	r.GrantTypes = fosite.Arguments{grantType}
	return r
}
