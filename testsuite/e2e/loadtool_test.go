package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// TestLoadToolAgentLogins runs the load tool against the broker with the real
// slapd and its card origin (issue #8: the 9 a.m. wave of password logins through
// the directory, then SSO code flows; card logins). The card scenario: every
// operation is a new browser, a full TLS handshake presenting the agent card, and
// the code flow to a token at eidas3; a card from an authority the broker does not
// trust fails every login, counted by kind. The wave: password logins at the
// directory (idp_hint, since this broker has several providers), each followed by
// SSO code flows; a wrong password fails every login.
func TestLoadToolAgentLogins(t *testing.T) {
	c := startCardEnv(t)
	judge := c.slapd.User(t, "jdupont")
	dir := t.TempDir()

	bin := filepath.Join(dir, "justiceconnect-load")
	build := exec.Command("go", "build", "-o", bin, "github.com/justiceconnect/justiceconnect/cmd/justiceconnect-load")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the load tool: %v\n%s", err, out)
	}
	// The tool trusts the broker's test certificate and the card origin's CA.
	brokerPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Server.Certificate().Raw})
	caFile := peer.WriteFile(t, dir, "trust.pem", string(brokerPEM)+string(c.ca.CertPEM))

	card := func(ca *peer.CA, name string) string {
		certPEM, keyPEM, _, _ := ca.Issue(t, peer.WithCommonName(judge.Mail), peer.WithEmails(judge.Mail), peer.WithClientAuth())
		certFile, keyFile := peer.WritePair(t, dir, name, certPEM, keyPEM)
		return certFile + ":" + keyFile
	}
	run := func(args ...string) (loadReport, int, string) {
		cmd := exec.Command(bin, append([]string{"--issuer", c.Issuer, "--ca-file", caFile,
			"--app", harness.MinistryID + ":" + harness.MinistrySecret + ":" + harness.RedirectURI,
			"--duration", "3s", "--concurrency", "4", "--progress=false", "--json"}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("run the load tool: %v", err)
		}
		var rep loadReport
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("the load tool's JSON: %v\nstdout %s\nstderr %s", err, stdout.String(), stderr.String())
		}
		return rep, code, stderr.String()
	}

	cardRun := func(cardArg string) (loadReport, int, string) {
		return run("--scenario", "card", "--card", cardArg, "--card-origin", c.card.URL)
	}
	rep, code, stderr := cardRun(card(c.ca, "judge-card"))
	if code != 0 || rep.OK == 0 || rep.Errors != 0 {
		t.Fatalf("card logins: exit %d, %d ok, %d errors %v\n%s", code, rep.OK, rep.Errors, rep.ErrorsByKind, stderr)
	}
	cardOp := rep.op("card")
	if cardOp == nil || cardOp.OK != rep.OK || cardOp.P99Ms <= 0 {
		t.Fatalf("no card operation in the report: %+v", rep.Ops)
	}
	t.Logf("card logins: %d in %.1f s (%.0f/s), p50 %.1f ms, p99 %.1f ms", cardOp.OK, rep.DurationS, cardOp.PerS, cardOp.P50Ms, cardOp.P99Ms)

	// A card from an authority the broker does not trust: no login succeeds,
	// and the errors are counted under the card operation.
	rogue := peer.NewCA(t, "AC inconnue")
	rep, code, stderr = cardRun(card(rogue, "rogue-card"))
	if code != 3 || rep.OK != 0 || rep.Errors == 0 {
		t.Fatalf("rogue card: exit %d, %d ok, %d errors, want exit 3 and no login\n%s", code, rep.OK, rep.Errors, stderr)
	}
	for kind := range rep.ErrorsByKind {
		if !strings.HasPrefix(kind, "card: ") {
			t.Errorf("rogue card: error kind %q not under the card operation (%v)", kind, rep.ErrorsByKind)
		}
	}
	t.Logf("rogue card: %v", rep.ErrorsByKind)

	// The wave: each step a password login through the directory, then two SSO
	// code flows.
	rep, code, stderr = run("--scenario", "wave", "--idp-hint", "annuaire", "--user", judge.UID+":"+judge.Password, "--sso-per-login", "2")
	login, sso := rep.op("login"), rep.op("sso")
	if code != 0 || rep.Errors != 0 || login == nil || sso == nil || login.OK == 0 || sso.OK < login.OK {
		t.Fatalf("wave: exit %d, %d errors %v, ops %+v\n%s", code, rep.Errors, rep.ErrorsByKind, rep.Ops, stderr)
	}
	t.Logf("wave through the directory: %d logins (%.0f/s, p99 %.1f ms), %d SSO flows (p99 %.1f ms)", login.OK, login.PerS, login.P99Ms, sso.OK, sso.P99Ms)
	// A wrong password: the broker refuses the login (401), then locks the
	// account out for a while (429); nothing succeeds and nothing else happens.
	rep, code, stderr = run("--scenario", "wave", "--idp-hint", "annuaire", "--user", judge.UID+":wrong-password", "--duration", "1s")
	if code != 3 || rep.OK != 0 || rep.ErrorsByKind["login: http 401"] == 0 {
		t.Fatalf("wave with a wrong password: exit %d, %d ok, errors %v, want exit 3 and logins refused (401)\n%s", code, rep.OK, rep.ErrorsByKind, stderr)
	}
	for kind := range rep.ErrorsByKind {
		if kind != "login: http 401" && kind != "login: http 429" {
			t.Errorf("wave with a wrong password: unexpected error kind %q (%v)", kind, rep.ErrorsByKind)
		}
	}
	t.Logf("wrong password: %v", rep.ErrorsByKind)
}

func (r *loadReport) op(name string) *loadOp {
	for i := range r.Ops {
		if r.Ops[i].Op == name {
			return &r.Ops[i]
		}
	}
	return nil
}

// loadReport is the part of the load tool's JSON report this test reads.
type loadReport struct {
	DurationS    float64          `json:"duration_s"`
	OK           int64            `json:"ok"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	Ops          []loadOp         `json:"ops"`
}

type loadOp struct {
	Op    string  `json:"op"`
	OK    int64   `json:"ok"`
	PerS  float64 `json:"per_s"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
}
