package peer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestBailiffsIdP(t *testing.T) {
	idp := StartBailiffsIdP(t, BailiffsIdPOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := idp.discoveryReady(ctx); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	authorize := func(withPKCE bool) string {
		q := url.Values{
			"client_id":     {idp.Client().ClientID},
			"response_type": {"code"},
			"scope":         {"openid profile"},
			"redirect_uri":  {DefaultBailiffsRedirectURI},
			"state":         {"state-0123456789"},
			"nonce":         {"nonce-0123456789"},
		}
		if withPKCE {
			sum := sha256.Sum256([]byte("verifier-0123456789-0123456789-0123456789-0123"))
			q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
			q.Set("code_challenge_method", "S256")
		}
		return idp.Issuer + "/auth?" + q.Encode()
	}
	user := idp.User(t, "jdupont")
	mfa := idp.User(t, "pmartin")

	tests := []struct {
		name               string
		pkce               bool
		username, password string
		otp                string
		wantRefused        bool
		wantError          string
	}{
		{name: "good password", pkce: true, username: user.Username, password: user.Password},
		{name: "good password and code", pkce: true, username: mfa.Username, password: mfa.Password, otp: mfa.OTP},
		{name: "wrong password", pkce: true, username: user.Username, password: "wrong", wantRefused: true},
		{name: "unknown user", pkce: true, username: "nobody", password: user.Password, wantRefused: true},
		{name: "missing one-time code", pkce: true, username: mfa.Username, password: mfa.Password, wantRefused: true},
		{name: "no PKCE", pkce: false, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb, err := idp.Login(ctx, nil, authorize(tt.pkce), tt.username, tt.password, tt.otp)
			if tt.wantRefused {
				if !errors.Is(err, ErrBailiffsLoginRefused) {
					t.Fatalf("Login = %v, %v; want ErrBailiffsLoginRefused", cb, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			q := cb.Query()
			if tt.wantError != "" {
				if q.Get("error") != tt.wantError || q.Get("code") != "" {
					t.Fatalf("callback %v; want error %s", cb, tt.wantError)
				}
				return
			}
			if q.Get("code") == "" || q.Get("state") != "state-0123456789" || q.Get("iss") != idp.Issuer {
				t.Fatalf("callback %v: want code, state and iss (RFC 9207)", cb)
			}
		})
	}

	before := signingKeyIDs(t, ctx, idp)
	idp.Stop()
	if err := idp.discoveryReady(ctx); err == nil {
		t.Fatal("discovery answers after Stop")
	}
	idp.Start(t)
	if err := idp.discoveryReady(ctx); err != nil {
		t.Fatalf("discovery after restart: %v", err)
	}
	if after := signingKeyIDs(t, ctx, idp); after[0] == before[0] || after[1] == before[1] {
		t.Errorf("signing keys %v kept across the restart (were %v)", after, before)
	}
}

// signingKeyIDs returns the kid of the IdP's RS256 and ES256 keys, failing unless
// its JWKS holds exactly those two, made by the harness (bailiffsSigningKeys).
func signingKeyIDs(t *testing.T, ctx context.Context, idp *BailiffsIdP) [2]string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, idp.Issuer+"/jwks", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kid, Alg string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	if len(set.Keys) != 2 || set.Keys[0].Alg != "RS256" || set.Keys[1].Alg != "ES256" ||
		!strings.HasPrefix(set.Keys[0].Kid, "rs256-") || !strings.HasPrefix(set.Keys[1].Kid, "es256-") {
		t.Fatalf("JWKS %+v: want the harness's RS256 and ES256 keys", set.Keys)
	}
	return [2]string{set.Keys[0].Kid, set.Keys[1].Kid}
}
