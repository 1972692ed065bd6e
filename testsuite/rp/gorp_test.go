package rp

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// TestGoRP: a relying party written with golang.org/x/oauth2 and go-oidc discovers
// the broker, runs the code flow with PKCE, verifies the ID token (signature,
// issuer, audience, expiry, nonce) and reads userinfo.
func TestGoRP(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	ctx := oidc.ClientContext(context.Background(), env.HTTPClient())
	provider, err := oidc.NewProvider(ctx, env.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	conf := oauth2.Config{ClientID: harness.MinistryID, ClientSecret: harness.MinistrySecret, Endpoint: provider.Endpoint(),
		RedirectURL: harness.RedirectURI, Scopes: []string{oidc.ScopeOpenID, "profile", "profession", "jurisdictions", "justice_roles"}}
	verifier := oauth2.GenerateVerifier()
	state, nonce := "go-rp-state-123", "go-rp-nonce-456"
	authURL := conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	res := env.Walk(t, env.Browser(), authURL, harness.Judge, "")
	code := res.Code(t)
	if res.Callback.Query().Get("state") != state {
		t.Fatalf("state %q", res.Callback.Query().Get("state"))
	}
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: harness.MinistryID, SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Nonce != nonce {
		t.Fatalf("nonce %q", idt.Nonce)
	}
	var c struct {
		ACR string `json:"acr"`
		SID string `json:"sid"`
	}
	if err := idt.Claims(&c); err != nil || c.ACR != "eidas1" || c.SID == "" {
		t.Fatalf("claims %+v %v", c, err)
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var info map[string]any
	if err := ui.Claims(&info); err != nil {
		t.Fatal(err)
	}
	if ui.Subject != idt.Subject || info["profession"] != "magistrat" || info["given_name"] != "Camille" {
		t.Fatalf("userinfo %v, sub %s vs %s", info, ui.Subject, idt.Subject)
	}
	// The same RP with a tampered ID token: go-oidc must refuse it.
	if _, err := provider.Verifier(&oidc.Config{ClientID: "someone-else", SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, raw); err == nil {
		t.Fatal("ID token accepted for another audience")
	}
	_ = url.Values{}
	_ = http.StatusOK
}
