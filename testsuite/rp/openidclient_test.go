package rp

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

type demoInfo struct {
	Issuer  string `json:"issuer"`
	Clients []struct {
		ClientID     string   `json:"client_id"`
		ClientSecret string   `json:"client_secret"`
		RedirectURIs []string `json:"redirect_uris"`
	} `json:"clients"`
	Users []struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"users"`
}

// startDemo builds the broker binary and runs `justiceconnect demo`, returning what
// it printed on its JSON line.
func startDemo(t *testing.T) demoInfo {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "justiceconnect")
	build := exec.Command("go", "build", "-o", bin, "./cmd/justiceconnect")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "demo", "--addr", "127.0.0.1:0", "--data", t.TempDir())
	p := peer.Start(t, "justiceconnect demo", cmd)
	// The demo prints its JSON line on stdout once it serves; peer.Start captures
	// stdout and stderr together, so look for the line that starts the object.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(p.Output(), "\n") {
			if !strings.HasPrefix(line, `{"issuer"`) {
				continue
			}
			var info demoInfo
			if err := json.Unmarshal([]byte(line), &info); err != nil {
				t.Fatalf("demo JSON line %q: %v", line, err)
			}
			return info
		}
		if p.Exited() {
			t.Fatalf("demo exited:\n%s", p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("demo did not start within 60 s:\n%s", p.Output())
	return demoInfo{}
}

// TestOpenIDClientLogin: a certified RP completes the code flow (with consent, PKCE,
// nonce, state, iss), verifies the ID token signature, reads userinfo and refreshes.
func TestOpenIDClientLogin(t *testing.T) {
	node := peer.RequireBinary(t, "node", "nodejs")
	nodeDir := filepath.Join(repoRoot(t), "testsuite", "node")
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "openid-client")); err != nil {
		t.Fatalf("openid-client is not installed: run testsuite/scripts/install-peers.sh (npm ci in testsuite/node)")
	}
	info := startDemo(t)
	if len(info.Clients) == 0 || len(info.Users) == 0 {
		t.Fatalf("demo printed no client or user: %+v", info)
	}
	c, u := info.Clients[0], info.Users[0]
	redirect := strings.Replace(c.RedirectURIs[0], "127.0.0.1/", "127.0.0.1:9/", 1) // any port (RFC 8252)
	cmd := exec.Command(node, "rp.mjs", info.Issuer, c.ClientID, c.ClientSecret, redirect, u.Username, u.Password)
	cmd.Dir = nodeDir
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("openid-client RP failed: %v\n%s\n%s", err, out, stderr)
	}
	var got struct {
		Claims          map[string]any `json:"claims"`
		Userinfo        map[string]any `json:"userinfo"`
		RefreshedClaims map[string]any `json:"refreshed_claims"`
		Scope           string         `json:"scope"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("RP output %q: %v", out, err)
	}
	sub, _ := got.Claims["sub"].(string)
	if sub == "" || strings.Contains(sub, "@") {
		t.Errorf("sub = %q", sub)
	}
	if got.Claims["iss"] != info.Issuer || got.Claims["acr"] != "eidas1" {
		t.Errorf("ID token claims = %v", got.Claims)
	}
	if got.Userinfo["sub"] != sub || got.RefreshedClaims["sub"] != sub {
		t.Errorf("sub differs: userinfo %v, refreshed %v", got.Userinfo["sub"], got.RefreshedClaims["sub"])
	}
	if got.Userinfo["profession"] != "magistrat" {
		t.Errorf("profession = %v", got.Userinfo["profession"])
	}
	if j := toStrings(got.Userinfo["jurisdictions"]); !slices.Equal(j, []string{"TJ75101"}) {
		t.Errorf("jurisdictions = %v", j)
	}
	if r := toStrings(got.Userinfo["justice_roles"]); !slices.Equal(r, []string{"juge_enfants@TJ75101"}) {
		t.Errorf("justice_roles = %v", r)
	}
	if got.Claims["auth_time"] != got.RefreshedClaims["auth_time"] {
		t.Errorf("auth_time changed on refresh (OIDC Core 12.2)")
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func repoRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}
