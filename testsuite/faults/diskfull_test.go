package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// mountTmpfs mounts a tmpfs of size under a fresh directory and unmounts it at
// cleanup. It fails the test (never skips) when mounting is not permitted: CI runs
// as root.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("disk-full fault: cannot mount a tmpfs (this test must run as root, as CI does): mount -t tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file until the file system is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			break
		}
	}
	// The last partial blocks too.
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Bavail != 0 {
		t.Fatalf("%s still has %d free blocks after filling", dir, st.Bavail)
	}
	return p
}

// introspect returns whether the broker says token is active.
func introspect(t *testing.T, env *harness.Env, token string) (int, bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.Issuer+"/token/introspection",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(harness.MinistryID, harness.MinistrySecret)
	resp, err := env.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Active bool `json:"active"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out.Active
}

func readyz(t *testing.T, env *harness.Env) int {
	t.Helper()
	resp, err := env.HTTPClient().Get(env.Issuer + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDiskFull: the file system holding the SQLite store fills up (a 4 MiB tmpfs
// and a filler file). SQLite still commits what fits in blocks its files already
// have: the WAL file restarts from its beginning once a checkpoint has copied it
// (the store's background checkpoint does so every few milliseconds) and pages
// freed by deletions are reused. So on a full disk some requests succeed and
// others are refused, in no fixed order. What must hold: every answer is a
// success whose tokens are committed (checked after recovery) or a clean refusal
// (a JSON OAuth error, 500 server_error or 503 temporarily_unavailable; for a
// browser starting a login the French 503 page); refusals do happen; /readyz stays
// 200 (its ping only reads); tokens, codes, refresh tokens and the SSO session
// committed before the fault survive; once the filler is deleted the broker works
// again without a restart.
func TestDiskFull(t *testing.T) {
	disk := mountTmpfs(t, "4m")
	env := harness.Start(t, harness.Options{Dir: disk})
	b := env.Browser()
	clientCredentials := func() *harness.Tokens {
		return env.Token(t, harness.APIClientID, harness.APISecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"detenus:read"}})
	}

	// Committed before the fault: a login's tokens and a client_credentials token.
	before := env.Login(t, b, harness.MinistryID, harness.MinistrySecret, harness.Judge, url.Values{"scope": {"openid profile offline_access"}})
	api := clientCredentials()
	if api.Status != http.StatusOK {
		t.Fatalf("client_credentials before the fault: %d %s", api.Status, api.Error)
	}
	// A code issued before the fault, redeemed during it.
	pkce := harness.NewPKCE()
	code := env.Walk(t, env.Browser(), env.AuthURL(harness.MinistryID, pkce, nil), harness.Judge, "allow").Code(t)

	filler := fill(t, disk)
	full := time.Now()

	// refused records tok: a success in issued (each must be committed), a
	// refusal, checked to be clean, in refusals; it reports whether tok was
	// refused.
	var issued []string
	refusals := 0
	refused := func(name string, tok *harness.Tokens) bool {
		t.Helper()
		if tok.Status == http.StatusOK && tok.AccessToken != "" {
			issued = append(issued, tok.AccessToken)
			return false
		}
		refusals++
		if tok.AccessToken != "" {
			t.Errorf("disk full: %s grant: tokens with status %d", name, tok.Status)
		}
		if tok.Status < 500 || (tok.Error != "temporarily_unavailable" && tok.Error != "server_error") {
			t.Errorf("disk full: %s grant: want 200 with tokens or 5xx with temporarily_unavailable or server_error, got %d %q", name, tok.Status, tok.Error)
		}
		return true
	}
	// exhaust issues client_credentials tokens until one is refused: the space
	// the store had is then used up, until its next checkpoint frees some.
	exhaust := func() {
		t.Helper()
		for range 5000 {
			start := time.Now()
			if tok := clientCredentials(); refused("client_credentials", tok) {
				t.Logf("disk full: client_credentials refused in %v: %d error=%q (%s) Retry-After=%q",
					time.Since(start), tok.Status, tok.Error, tok.Description, tok.Header.Get("Retry-After"))
				return
			}
		}
		t.Fatalf("5,000 tokens issued on a full disk: the store never ran out of space")
	}

	// Each request under test comes right after the space ran out; it may still
	// succeed (a checkpoint came in between). Both outcomes are checked after
	// recovery.
	exhaust()
	redeem := env.Redeem(t, harness.MinistryID, harness.MinistrySecret, code, pkce)
	codeRedeemed := !refused("authorization_code", redeem)
	exhaust()
	rotated := env.Token(t, harness.MinistryID, harness.MinistrySecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {before.RefreshToken}})
	refreshRotated := !refused("refresh_token", rotated)
	t.Logf("disk full: code redeemed %v, refresh token rotated %v (each right after the space ran out)", codeRedeemed, refreshRotated)

	// A browser starting a login: the French 503 page when its flow cannot be
	// stored, else on to the login page.
	pageSeen := false
	for try := 0; try < 50 && !pageSeen; try++ {
		exhaust()
		p := do(t, env.Browser(), http.MethodGet, env.AuthURL(harness.PartnerID, harness.NewPKCE(), nil), nil)
		if p.Status == http.StatusSeeOther && strings.Contains(p.Header.Get("Location"), "/login?flow=") {
			continue
		}
		t.Logf("disk full: GET /authorize: %d in %v, correlation ID %q (try %d)", p.Status, p.Elapsed, correlationID(p), try+1)
		wantErrorPage(t, p, http.StatusServiceUnavailable, "momentanément indisponible")
		pageSeen = true
	}
	if !pageSeen {
		t.Error("disk full: 50 logins started right after the space ran out, none refused: the error page was not seen")
	}
	t.Logf("disk full: %d tokens issued, %d requests refused", len(issued), refusals)

	// /readyz pings the store: a ping reads, and it succeeds while writes fail
	// (observed: 200). A load balancer keeps sending traffic to a node that
	// cannot issue a token; all nodes sharing the store are equally stuck, so taking
	// them out would not help, but a write probe would let monitoring see it.
	ready := readyz(t, env)
	t.Logf("disk full: /readyz %d (the store's ping does not write)", ready)
	if ready != http.StatusOK && ready != http.StatusServiceUnavailable {
		t.Errorf("disk full: /readyz %d, want 200 (ping reads) or 503", ready)
	}

	// Committed tokens are still there (reads work); a refresh rotated during the
	// fault has revoked the login's access token, as a rotation does.
	if st, active := introspect(t, env, before.AccessToken); st != http.StatusOK || active == refreshRotated {
		t.Errorf("disk full: the access token issued before: %d active=%v, refresh rotated during the fault: %v", st, active, refreshRotated)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	t.Logf("disk full for %v; filler removed", freed.Sub(full))

	// Recovery without restart.
	var tok *harness.Tokens
	for time.Since(freed) < 10*time.Second {
		if tok = clientCredentials(); tok.Status == http.StatusOK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if tok.Status != http.StatusOK {
		t.Fatalf("client_credentials 10s after space was freed: %d %s", tok.Status, tok.Error)
	}
	t.Logf("space freed: client_credentials works again after %v", time.Since(freed))
	if got := readyz(t, env); got != http.StatusOK {
		t.Errorf("/readyz after recovery: %d", got)
	}
	env.Login(t, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Clerk, nil)
	committed := map[string]string{"client_credentials token issued before the fault": api.AccessToken}
	for i, tok := range issued {
		committed[fmt.Sprintf("token %d issued during the fault", i+1)] = tok
	}
	if !refreshRotated {
		committed["login access token issued before the fault"] = before.AccessToken
	}
	for name, token := range committed {
		if st, active := introspect(t, env, token); st != http.StatusOK || !active {
			t.Errorf("after recovery: the %s is not active: %d %v", name, st, active)
		}
	}
	// A refresh refused during the fault was rolled back: the token still works.
	// One rotated during the fault: its new refresh token works.
	rt := before.RefreshToken
	if refreshRotated {
		rt = rotated.RefreshToken
	}
	r := env.Token(t, harness.MinistryID, harness.MinistrySecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	t.Logf("after recovery: refresh (rotated during the fault: %v): %d %q", refreshRotated, r.Status, r.Error)
	if r.Status != http.StatusOK {
		t.Errorf("after recovery: refresh (rotated during the fault: %v): %d %s %s", refreshRotated, r.Status, r.Error, r.Description)
	}
	// A code refused during the fault was not consumed (its transaction rolled
	// back): it is redeemed once space is back. One redeemed during it is spent.
	rc := env.Redeem(t, harness.MinistryID, harness.MinistrySecret, code, pkce)
	t.Logf("after recovery: redeeming the code (redeemed during the fault: %v): %d %q", codeRedeemed, rc.Status, rc.Error)
	if codeRedeemed && rc.Status != http.StatusBadRequest {
		t.Errorf("after recovery: the code redeemed during the fault was accepted again: %d", rc.Status)
	}
	if !codeRedeemed && (rc.Status != http.StatusOK || rc.AccessToken == "") {
		t.Errorf("after recovery: the code refused during the fault: %d %s %s", rc.Status, rc.Error, rc.Description)
	}
	// The SSO session made before the fault still holds: no login asked.
	res := env.Walk(t, b, env.AuthURL(harness.MinistryID, harness.NewPKCE(), nil), "", "allow")
	res.Code(t)
	for _, p := range res.Pages {
		if strings.HasPrefix(p, "/login") {
			t.Errorf("after recovery: the SSO session made before the fault is gone (went through %s)", p)
		}
	}
}
