package oidc_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// A grant is named once, by a time-ordered ID, and every token of it carries that
// name: the code's authorization, the tokens it is redeemed for and their
// rotations. Revocation by request ID (RFC 7009 §2.1) depends on it.
func TestGrantIDs(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	tok := env.Login(t, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Judge, url.Values{"scope": {"openid profile offline_access"}})
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	if res := env.Token(t, harness.MinistryID, harness.MinistrySecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); res.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", res.Status, res.Error)
	}
	if res := env.Token(t, harness.APIClientID, harness.APISecret, url.Values{"grant_type": {"client_credentials"}}); res.Status != http.StatusOK {
		t.Fatalf("client_credentials: %d %s", res.Status, res.Error)
	}

	evs, err := env.Broker.Store.ListAudit(context.Background(), time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string][]string{}
	for _, e := range evs {
		if e.Type == audit.Authorize || e.Type == audit.TokenIssued || e.Type == audit.Refresh {
			byType[e.Type] = append(byType[e.Type], e.Request)
		}
	}
	if len(byType[audit.Authorize]) != 1 || len(byType[audit.TokenIssued]) != 2 || len(byType[audit.Refresh]) != 1 {
		t.Fatalf("audit events by type: %v", byType)
	}
	grant := byType[audit.Authorize][0]
	if id, err := uuid.Parse(grant); err != nil || id.Version() != 7 {
		t.Errorf("authorization's request ID %q is not a version 7 UUID", grant)
	}
	if code, refresh := byType[audit.TokenIssued][0], byType[audit.Refresh][0]; code != grant || refresh != grant {
		t.Errorf("the code's tokens (%q) and their rotation (%q) do not carry the grant's ID %q", code, refresh, grant)
	}
	cc := byType[audit.TokenIssued][1]
	if id, err := uuid.Parse(cc); err != nil || id.Version() != 7 || cc <= grant {
		t.Errorf("client_credentials request ID %q: want a version 7 UUID after %q", cc, grant)
	}
}
