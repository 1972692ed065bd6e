package saml

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/providers"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// errAlreadyUsed stands in for storage.ErrAlreadyUsed.
var errAlreadyUsed = errors.New("already used")

// memReplay is an in-memory ReplayCache.
type memReplay struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func newMemReplay() *memReplay { return &memReplay{seen: map[string]time.Time{}} }

func (m *memReplay) UseOnce(_ context.Context, namespace, key string, expiresAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := namespace + "\x00" + key
	if _, ok := m.seen[k]; ok {
		return errAlreadyUsed
	}
	m.seen[k] = expiresAt
	return nil
}

func (m *memReplay) expiry(namespace, key string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.seen[namespace+"\x00"+key]
	return t, ok
}

// testLogger discards below debug into the test log, so that a failing test shows
// the private detail.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newKeyPair makes an RSA key and a self-signed certificate valid around now.
func newKeyPair(t testing.TB, cn string, notBefore, notAfter time.Time) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// writeKeyPair writes key and cert as PEM files in dir and returns their paths.
func writeKeyPair(t testing.TB, dir string, key *rsa.PrivateKey, cert *x509.Certificate) (keyFile, certFile string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(dir, "sp.key")
	certFile = filepath.Join(dir, "sp.crt")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile, certFile
}

// sspSetup is a provider wired to a running SimpleSAMLphp.
type sspSetup struct {
	idp    *peer.SAMLIdP
	p      *Provider
	replay *memReplay
	acs    string
	mdFile string
	now    *clock
	spKey  *rsa.PrivateKey
	spCert *x509.Certificate
	cfg    Config
}

// clock is a settable clock, real time plus an offset.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

func startSSP(t *testing.T, opts peer.SAMLIdPOptions) *sspSetup {
	t.Helper()
	idp := peer.StartSimpleSAMLphp(t, opts)
	dir := t.TempDir()
	s := &sspSetup{idp: idp, replay: newMemReplay(), now: &clock{}, mdFile: filepath.Join(dir, "idp.xml")}
	s.acs = fmt.Sprintf("http://127.0.0.1:%d/login/callback/barreau", peer.FreePort(t))
	idp.WriteMetadataFile(t, s.mdFile)
	s.spKey, s.spCert = newKeyPair(t, "JusticeConnect SP", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	keyFile, certFile := writeKeyPair(t, dir, s.spKey, s.spCert)
	s.cfg = Config{
		EntityID:        "https://justiceconnect.example/saml/sp",
		ACSURL:          s.acs,
		IdPMetadataFile: s.mdFile,
		SPCertFile:      certFile,
		SPKeyFile:       keyFile,
	}
	p, err := New(s.cfg, Options{Logger: testLogger(t), Now: s.now.Now, ReplayCache: s.replay})
	if err != nil {
		t.Fatal(err)
	}
	s.p = p
	md, err := p.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	idp.SetSPMetadata(t, md)
	return s
}

var (
	inputRe = regexp.MustCompile(`<input[^>]*>`)
	nameRe  = regexp.MustCompile(`name="([^"]*)"`)
	valueRe = regexp.MustCompile(`value="([^"]*)"`)
	formRe  = regexp.MustCompile(`<form[^>]*action="([^"]*)"`)
)

// hiddenInputs returns the named inputs of an HTML page with their values.
func hiddenInputs(page string) url.Values {
	v := url.Values{}
	for _, in := range inputRe.FindAllString(page, -1) {
		n := nameRe.FindStringSubmatch(in)
		if n == nil {
			continue
		}
		val := ""
		if m := valueRe.FindStringSubmatch(in); m != nil {
			val = html.UnescapeString(m[1])
		}
		v.Add(html.UnescapeString(n[1]), val)
	}
	return v
}

// browserLogin plays the browser: it follows step.RedirectURL to the IdP, submits
// the exampleauth form and returns the auto-POST form the IdP answers (SAMLResponse
// and RelayState), or the last page when there is none.
func browserLogin(t *testing.T, step providers.Step, username, password string) (url.Values, string, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, err := client.Get(step.RedirectURL)
	if err != nil {
		t.Fatalf("GET IdP SSO: %v", err)
	}
	page := readBody(t, resp)
	in := hiddenInputs(page)
	if in.Get("AuthState") == "" {
		t.Fatalf("no login form at %s:\n%s", resp.Request.URL, page)
	}
	loginURL := *resp.Request.URL
	loginURL.RawQuery = ""
	form := url.Values{"username": {username}, "password": {password}, "AuthState": {in.Get("AuthState")}}
	resp, err = client.PostForm(loginURL.String(), form)
	if err != nil {
		t.Fatalf("POST login form: %v", err)
	}
	page = readBody(t, resp)
	action := ""
	if m := formRe.FindStringSubmatch(page); m != nil {
		action = html.UnescapeString(m[1])
	}
	return hiddenInputs(page), action, page
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// acsRequest builds the POST the browser would send to the ACS, with the form
// parsed as the broker does.
func acsRequest(t testing.TB, acs string, form url.Values) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, acs, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := r.ParseForm(); err != nil {
		t.Fatal(err)
	}
	return r
}

func randRead(b []byte) (int, error) { return rand.Read(b) }

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func encodeB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// httpClientNoRedirect stops at the first answer.
var httpClientNoRedirect = http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
