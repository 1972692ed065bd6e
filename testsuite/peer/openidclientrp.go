package peer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// OpenIDClientRP is a partner platform's web application written with the
// certified relying-party library openid-client (testsuite/node/rp-web.mjs), on
// http://127.0.0.1:PORT. It receives back-channel logout itself and reports its
// sessions at /state.
//
// NewOpenIDClientRP reserves the port and names the URLs (so the broker can
// register them first); Start runs node once the broker serves discovery.
type OpenIDClientRP struct {
	Port int
	// URL is http://127.0.0.1:PORT; URL + "/login" starts a login, URL + "/"
	// shows the claims, URL + "/logout" logs out at the broker.
	URL                   string
	RedirectURI           string
	PostLogoutRedirectURI string
	BackchannelLogoutURI  string

	process *Process
}

// OpenIDClientRPOptions configure the application.
type OpenIDClientRPOptions struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// CAFile is a PEM bundle trusted for the broker's TLS certificate
	// (NODE_EXTRA_CA_CERTS).
	CAFile string
	// Scope is the space-separated scope requested (the application's default
	// when empty).
	Scope string
	// Title names the application on its pages.
	Title string
}

// OpenIDClientSession is one session of the application, as /state reports it.
type OpenIDClientSession struct {
	Sub     string `json:"sub"`
	SID     string `json:"sid"`
	Ended   bool   `json:"ended"`
	EndedBy string `json:"ended_by"`
}

// OpenIDClientState is what the application saw: its sessions and events
// (logins, login errors, back-channel logouts accepted or refused).
type OpenIDClientState struct {
	Sessions []OpenIDClientSession `json:"sessions"`
	Events   []map[string]any      `json:"events"`
}

// NewOpenIDClientRP reserves a port and computes the URLs. It fails the test when
// node or openid-client is missing.
func NewOpenIDClientRP(t testing.TB) *OpenIDClientRP {
	t.Helper()
	RequireBinary(t, "node", "nodejs")
	if _, err := os.Stat(filepath.Join(bailiffsNodeDir(t), "node_modules", "openid-client", "package.json")); err != nil {
		t.Fatalf("peer: openid-client is not installed (%v): run testsuite/scripts/install-peers.sh", err)
	}
	port := FreePort(t)
	base := "http://" + Addr(port)
	return &OpenIDClientRP{
		Port: port, URL: base,
		RedirectURI:           base + "/callback",
		PostLogoutRedirectURI: base + "/logged-out",
		BackchannelLogoutURI:  base + "/backchannel-logout",
	}
}

// Start runs the application and waits until it answers (discovery at the
// broker succeeded).
func (rp *OpenIDClientRP) Start(t testing.TB, opts OpenIDClientRPOptions) {
	t.Helper()
	conf, err := json.Marshal(map[string]any{
		"issuer": opts.Issuer, "client_id": opts.ClientID, "client_secret": opts.ClientSecret,
		"base_url": rp.URL, "port": rp.Port, "scope": opts.Scope, "title": opts.Title,
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := bailiffsNodeDir(t)
	cmd := exec.Command(RequireBinary(t, "node", "nodejs"), filepath.Join(dir, "rp-web.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RP_WEB_CONFIG="+string(conf))
	if opts.CAFile != "" {
		cmd.Env = append(cmd.Env, "NODE_EXTRA_CA_CERTS="+opts.CAFile)
	}
	rp.process = Start(t, "openid-client RP", cmd)
	rp.process.WaitReady(t, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rp.URL+"/state", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	})
}

// State returns what the application saw so far.
func (rp *OpenIDClientRP) State(t testing.TB) OpenIDClientState {
	t.Helper()
	res, err := http.Get(rp.URL + "/state")
	if err != nil {
		t.Fatalf("openid-client RP state: %v", err)
	}
	defer res.Body.Close()
	var st OpenIDClientState
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatalf("openid-client RP state: %v", err)
	}
	return st
}

// Output returns what the application printed.
func (rp *OpenIDClientRP) Output() string {
	if rp.process == nil {
		return ""
	}
	return rp.process.Output()
}
