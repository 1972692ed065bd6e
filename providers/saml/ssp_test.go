package saml

import (
	"context"
	"testing"

	"github.com/justiceconnect/justiceconnect/providers"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

func TestSimpleSAMLphpLogin(t *testing.T) {
	s := startSSP(t, peer.SAMLIdPOptions{})
	ctx := context.Background()
	step, err := s.p.Begin(ctx, providers.LoginRequest{CallbackURL: s.acs, State: "flow1.secret1"})
	if err != nil {
		t.Fatal(err)
	}
	form, action, page := browserLogin(t, step, "adupont", "motdepasse-avocat-1")
	t.Logf("action=%s form=%v", action, form)
	_ = page
	id, err := s.p.Complete(ctx, acsRequest(t, s.acs, form), step.Pending)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", id)
}
