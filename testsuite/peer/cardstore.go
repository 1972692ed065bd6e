package peer

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// CardHome makes a HOME directory whose NSS database (~/.pki/nssdb, where Chromium
// on Linux finds client certificates, as a smart card's PKCS#11 module would show
// them) holds the card's certificate and key. It uses certutil and pk12util
// (libnss3-tools) and openssl; a missing tool fails the test.
func CardHome(t testing.TB, certPEM, keyPEM []byte) string {
	t.Helper()
	certutil := RequireBinary(t, "/usr/bin/certutil", "libnss3-tools")
	pk12util := RequireBinary(t, "/usr/bin/pk12util", "libnss3-tools")
	openssl := RequireBinary(t, "/usr/bin/openssl", "openssl")
	home := t.TempDir()
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatalf("peer: card home: %v", err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("peer: card home: %s %v: %v\n%s", filepath.Base(name), args, err, out)
		}
	}
	certFile, keyFile := WritePair(t, home, "card", certPEM, keyPEM)
	p12 := filepath.Join(home, "card.p12")
	run(certutil, "-N", "-d", "sql:"+db, "--empty-password")
	run(openssl, "pkcs12", "-export", "-in", certFile, "-inkey", keyFile, "-out", p12, "-passout", "pass:", "-name", "carte-agent")
	run(pk12util, "-i", p12, "-d", "sql:"+db, "-W", "")
	return home
}

// ChromiumPolicyDir is where Debian's Chromium reads managed policies.
const ChromiumPolicyDir = "/etc/chromium/policies/managed"

// AutoSelectClientCertificate installs a managed Chromium policy
// (AutoSelectCertificateForUrls) letting Chromium present a client certificate
// issued by issuerCN to origin without a dialog, which headless Chromium cannot
// show. The policy is machine-wide, limited to that origin, and removed at cleanup.
// Writing it needs root (the testsuite runs as root in CI); otherwise the test fails.
func AutoSelectClientCertificate(t testing.TB, origin, issuerCN string) {
	t.Helper()
	if err := os.MkdirAll(ChromiumPolicyDir, 0o755); err != nil {
		t.Fatalf("peer: chromium policy (needs root): %v", err)
	}
	rule, _ := json.Marshal(map[string]any{"pattern": origin, "filter": map[string]any{"ISSUER": map[string]string{"CN": issuerCN}}})
	policy, _ := json.Marshal(map[string][]string{"AutoSelectCertificateForUrls": {string(rule)}})
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	path := filepath.Join(ChromiumPolicyDir, "justiceconnect-test-"+hex.EncodeToString(rnd)+".json")
	if err := os.WriteFile(path, policy, 0o644); err != nil {
		t.Fatalf("peer: chromium policy (needs root): %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(path) })
}
