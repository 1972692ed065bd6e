package e2e

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// TestRefreshRechecksDirectory: a refresh token re-reads the directory entry; once
// the account is disabled in the directory the grant gets invalid_grant and its
// tokens are revoked (issue 4, SECURITY.md B19's spirit: no tokens for someone
// who is no longer there).
func TestRefreshRechecksDirectory(t *testing.T) {
	u := startUpstreams(t)
	_, f := u.loginLDAP(t, u.Browser(), harness.MinistryID, "pmartin")
	rt := f.Tokens.RefreshToken
	if rt == "" {
		t.Fatal("no refresh token")
	}
	refresh := func(token string) *harness.Tokens {
		return u.Token(t, f.client, f.secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}})
	}
	ok := refresh(rt)
	if ok.Status != http.StatusOK {
		t.Fatalf("refresh of an active account: %d %s %s", ok.Status, ok.Error, ok.Description)
	}
	u.slapd.Modify(t, "dn: "+u.slapd.UserDN("pmartin")+"\nchangetype: modify\nreplace: nsAccountLock\nnsAccountLock: TRUE\n")
	denied := refresh(ok.RefreshToken)
	if denied.Status != http.StatusBadRequest || denied.Error != "invalid_grant" || denied.AccessToken != "" {
		t.Fatalf("refresh after the account was disabled: %d %q", denied.Status, denied.Error)
	}
	req, _ := http.NewRequest(http.MethodGet, u.Issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+ok.AccessToken)
	resp, err := u.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("access token of the disabled account still accepted at userinfo: %d", resp.StatusCode)
	}
}
