package peer

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// SimpleSAMLphpRoot is where Debian's simplesamlphp package installs the software.
const SimpleSAMLphpRoot = "/usr/share/simplesamlphp"

// SAMLUser is one account of the IdP's exampleauth:UserPass source.
type SAMLUser struct {
	Username string
	Password string
	// Attributes are released under these names (NameFormat basic). "uid" is always
	// set to Username; the persistent NameID is derived from it.
	Attributes map[string][]string
}

// SAMLIdPOptions shape a throwaway SimpleSAMLphp IdP.
type SAMLIdPOptions struct {
	// Users defaults to DefaultSAMLUsers().
	Users []SAMLUser
	// EncryptAssertions encrypts every assertion with the SP's encryption key from
	// its metadata (RSA-OAEP key transport, AES-CBC content).
	EncryptAssertions bool
	// SLO keeps the SingleLogoutService endpoint in MetadataXML. SimpleSAMLphp always
	// serves one; without SLO the handle's copy omits it, so an SP that reads the
	// file sees an IdP without single logout.
	SLO bool
	// SPMetadata is written before the IdP starts (SetSPMetadata can replace it).
	SPMetadata []byte
}

// DefaultSAMLUsers are two lawyers of the Paris and Lyon bars.
func DefaultSAMLUsers() []SAMLUser {
	return []SAMLUser{
		{Username: "adupont", Password: "motdepasse-avocat-1", Attributes: map[string][]string{
			"givenName": {"Anne"}, "sn": {"Dupont"}, "mail": {"anne.dupont@avocat-paris.example"},
			"barreau": {"Paris"}, "numeroAvocat": {"P0042"}, "eduPersonAffiliation": {"member", "avocat"},
		}},
		{Username: "bmartin", Password: "motdepasse-avocat-2", Attributes: map[string][]string{
			"givenName": {"Bruno"}, "sn": {"Martin"}, "mail": {"bruno.martin@barreau-lyon.example"},
			"barreau": {"Lyon"}, "numeroAvocat": {"L1234"},
		}},
	}
}

// SAMLIdP is a running SimpleSAMLphp 1.19 IdP on 127.0.0.1.
type SAMLIdP struct {
	// EntityID is the IdP's entity ID (its metadata URL, SimpleSAMLphp's convention).
	EntityID string
	// BaseURL is http://127.0.0.1:PORT (no trailing slash).
	BaseURL string
	// MetadataURL serves the IdP's SAML metadata.
	MetadataURL string
	// SSOURL is the SingleSignOnService (HTTP-Redirect binding).
	SSOURL string
	// SLOURL is the SingleLogoutService (HTTP-Redirect binding).
	SLOURL string
	// Users are the accounts the IdP knows.
	Users []SAMLUser

	Process *Process

	dir     string
	opts    SAMLIdPOptions
	mu      sync.Mutex
	key     *rsa.PrivateKey
	cert    *x509.Certificate
	spFile  string
	keyFile string
	crtFile string
}

// StartSimpleSAMLphp starts a SimpleSAMLphp IdP with PHP's built-in server, its own
// configuration directory, a signing key generated now, and the exampleauth users.
// It signs Response and Assertion with RSA-SHA256 and issues persistent NameIDs.
func StartSimpleSAMLphp(t testing.TB, opts SAMLIdPOptions) *SAMLIdP {
	t.Helper()
	php := RequireBinary(t, "php", "php-cli")
	if _, err := os.Stat(filepath.Join(SimpleSAMLphpRoot, "www", "saml2", "idp", "SSOService.php")); err != nil {
		t.Fatalf("peer: SimpleSAMLphp not found in %s; install it with testsuite/scripts/install-peers.sh (Debian package simplesamlphp)", SimpleSAMLphpRoot)
	}
	if len(opts.Users) == 0 {
		opts.Users = DefaultSAMLUsers()
	}
	port := FreePort(t)
	base := "http://" + Addr(port)
	idp := &SAMLIdP{
		BaseURL:     base,
		EntityID:    base + "/saml2/idp/metadata.php",
		MetadataURL: base + "/saml2/idp/metadata.php",
		SSOURL:      base + "/saml2/idp/SSOService.php",
		SLOURL:      base + "/saml2/idp/SingleLogoutService.php",
		Users:       opts.Users,
		dir:         t.TempDir(),
		opts:        opts,
	}
	for _, d := range []string{"config", "cert", "metadata", "sessions", "data", "tmp", "log"} {
		if err := os.MkdirAll(filepath.Join(idp.dir, d), 0o700); err != nil {
			t.Fatalf("peer: %v", err)
		}
	}
	idp.keyFile = filepath.Join(idp.dir, "cert", "idp.key")
	idp.crtFile = filepath.Join(idp.dir, "cert", "idp.crt")
	idp.spFile = filepath.Join(idp.dir, "metadata", "sp.xml")
	idp.RotateKey(t)
	sp := opts.SPMetadata
	if len(sp) == 0 {
		sp = []byte(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>`)
	}
	idp.SetSPMetadata(t, sp)
	idp.writeConfig(t)

	cmd := exec.Command(php, "-S", Addr(port), "-t", filepath.Join(SimpleSAMLphpRoot, "www"))
	cmd.Dir = idp.dir
	cmd.Env = append(os.Environ(),
		"SIMPLESAMLPHP_CONFIG_DIR="+filepath.Join(idp.dir, "config"),
		"PHP_CLI_SERVER_WORKERS=4",
	)
	idp.Process = Start(t, "simplesamlphp", cmd)
	idp.Process.WaitReady(t, func(ctx context.Context) error {
		body, err := sspGet(ctx, idp.MetadataURL)
		if err != nil {
			return err
		}
		if !strings.Contains(body, `entityID="`+idp.EntityID+`"`) {
			return fmt.Errorf("metadata page does not name %s yet", idp.EntityID)
		}
		return nil
	})
	return idp
}

// Dir is the IdP's state directory (config, keys, sessions).
func (idp *SAMLIdP) Dir() string { return idp.dir }

// PrivateKey is the IdP's current signing key, for crafting hostile responses.
func (idp *SAMLIdP) PrivateKey() *rsa.PrivateKey {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return idp.key
}

// Certificate is the IdP's current signing certificate.
func (idp *SAMLIdP) Certificate() *x509.Certificate {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return idp.cert
}

// RotateKey replaces the IdP's signing key and certificate (metadata key rollover).
// SimpleSAMLphp reads them at each request, so the next response and the next
// metadata fetch use the new pair. It returns the new pair.
func (idp *SAMLIdP) RotateKey(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, cert := sspSelfSigned(t, "SimpleSAMLphp IdP "+idp.BaseURL)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: sspPKCS8(t, key)})
	crtPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	idp.mu.Lock()
	defer idp.mu.Unlock()
	sspWriteAtomic(t, idp.keyFile, keyPEM)
	sspWriteAtomic(t, idp.crtFile, crtPEM)
	idp.key, idp.cert = key, cert
	return key, cert
}

// SetSPMetadata replaces the SP metadata the IdP trusts. The file is replaced
// atomically (temp + rename): SimpleSAMLphp reads it at each request.
func (idp *SAMLIdP) SetSPMetadata(t testing.TB, xml []byte) {
	t.Helper()
	sspWriteAtomic(t, idp.spFile, xml)
}

// MetadataXML fetches the IdP's metadata. Without SLO in the options, the
// SingleLogoutService elements are removed from the copy returned.
func (idp *SAMLIdP) MetadataXML(t testing.TB) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body, err := sspGet(ctx, idp.MetadataURL)
	if err != nil {
		t.Fatalf("peer: IdP metadata: %v", err)
	}
	if !idp.opts.SLO {
		body = sspSLOElement.ReplaceAllString(body, "")
	}
	return []byte(body)
}

// WriteMetadataFile writes MetadataXML atomically to path, as an SP configured with
// idp_metadata_file would read it.
func (idp *SAMLIdP) WriteMetadataFile(t testing.TB, path string) {
	t.Helper()
	sspWriteAtomic(t, path, idp.MetadataXML(t))
}

var sspSLOElement = regexp.MustCompile(`(?s)<md:SingleLogoutService[^>]*/>\s*|<md:SingleLogoutService[^>]*>.*?</md:SingleLogoutService>\s*`)

func (idp *SAMLIdP) writeConfig(t testing.TB) {
	t.Helper()
	d := func(p string) string { return sspPHPString(filepath.Join(idp.dir, p) + "/") }
	config := `<?php
$config = [
    'baseurlpath' => ` + sspPHPString(idp.BaseURL+"/") + `,
    'certdir' => ` + d("cert") + `,
    'loggingdir' => ` + d("log") + `,
    'datadir' => ` + d("data") + `,
    'tempdir' => ` + d("tmp") + `,
    'metadatadir' => ` + d("metadata") + `,
    'attributenamemapdir' => '/etc/simplesamlphp/attributemap/',
    'secretsalt' => ` + sspPHPString(sspRandomHex(t, 16)) + `,
    'auth.adminpassword' => ` + sspPHPString(sspRandomHex(t, 16)) + `,
    'technicalcontact_name' => 'JusticeConnect tests',
    'technicalcontact_email' => 'tests@justiceconnect.example',
    'timezone' => 'UTC',
    'admin.protectindexpage' => false,
    'admin.protectmetadata' => false,
    'admin.checkforupdates' => false,
    'enable.saml20-idp' => true,
    'enable.shib13-idp' => false,
    'enable.adfs-idp' => false,
    'enable.http_post' => false,
    'assertion.allowed_clock_skew' => 180,
    'debug' => ['saml' => false, 'backtraces' => true, 'validatexml' => false],
    'showerrors' => true,
    'errorreporting' => false,
    'logging.level' => SimpleSAML\Logger::NOTICE,
    'logging.handler' => 'stderr',
    'statistics.out' => [],
    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true],
    'session.duration' => 8 * 3600,
    'session.datastore.timeout' => 4 * 3600,
    'session.state.timeout' => 3600,
    'session.cookie.name' => 'SimpleSAMLSessionID',
    'session.cookie.path' => '/',
    'session.cookie.secure' => false,
    'session.cookie.samesite' => null,
    'session.phpsession.cookiename' => 'SimpleSAML',
    'session.phpsession.savepath' => ` + sspPHPString(filepath.Join(idp.dir, "sessions")) + `,
    'session.phpsession.httponly' => true,
    'session.authtoken.cookiename' => 'SimpleSAMLAuthToken',
    'language.cookie.secure' => false,
    'language.default' => 'en',
    'theme.use' => 'default',
    'production' => false,
    'store.type' => 'phpsession',
    'metadata.sources' => [
        ['type' => 'flatfile'],
        ['type' => 'xml', 'file' => ` + sspPHPString(idp.spFile) + `],
    ],
];
`
	var users strings.Builder
	for _, u := range idp.opts.Users {
		attrs := map[string][]string{"uid": {u.Username}}
		for k, v := range u.Attributes {
			attrs[k] = v
		}
		users.WriteString("        " + sspPHPString(u.Username+":"+u.Password) + " => " + sspPHPAttrs(attrs) + ",\n")
	}
	authsources := `<?php
$config = [
    'admin' => ['core:AdminPassword'],
    'example-userpass' => [
        'exampleauth:UserPass',
` + users.String() + `    ],
];
`
	encrypt := "false"
	if idp.opts.EncryptAssertions {
		encrypt = "true"
	}
	hosted := `<?php
$metadata[` + sspPHPString(idp.EntityID) + `] = [
    'host' => '__DEFAULT__',
    'privatekey' => ` + sspPHPString(idp.keyFile) + `,
    'certificate' => ` + sspPHPString(idp.crtFile) + `,
    'auth' => 'example-userpass',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'saml20.sign.response' => true,
    'saml20.sign.assertion' => true,
    'assertion.encryption' => ` + encrypt + `,
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
    'authproc' => [
        // SimpleSAMLphp 1.19 names the source attribute 'attribute'.
        10 => ['class' => 'saml:PersistentNameID', 'attribute' => 'uid'],
    ],
];
`
	cfg := filepath.Join(idp.dir, "config")
	WriteFile(t, cfg, "config.php", config)
	WriteFile(t, cfg, "authsources.php", authsources)
	WriteFile(t, filepath.Join(idp.dir, "metadata"), "saml20-idp-hosted.php", hosted)
	WriteFile(t, filepath.Join(idp.dir, "metadata"), "saml20-sp-remote.php", "<?php\n")
}

func sspPHPString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func sspPHPAttrs(attrs map[string][]string) string {
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("[")
	for _, k := range names {
		b.WriteString(sspPHPString(k) + " => [")
		for i, v := range attrs[k] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(sspPHPString(v))
		}
		b.WriteString("], ")
	}
	b.WriteString("]")
	return b.String()
}

func sspGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), err
}

func sspWriteAtomic(t testing.TB, path string, content []byte) {
	t.Helper()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		t.Fatalf("peer: %v", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		t.Fatalf("peer: %v", err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatalf("peer: %v", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatalf("peer: %v", err)
	}
}

func sspRandomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("peer: %v", err)
	}
	return fmt.Sprintf("%x", b)
}

func sspPKCS8(t testing.TB, key *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	return der
}

// sspSelfSigned makes an RSA-2048 key and a self-signed certificate valid from an hour
// ago for a day: nothing that expires is kept in the repository.
func sspSelfSigned(t testing.TB, cn string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("peer: key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"JusticeConnect tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("peer: certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	return key, cert
}

// BarreauMapping is the "mapping:" block of a broker's SAML provider entry for
// this IdP's users (givenName, sn, mail, numeroAvocat, barreau), indented for an
// entry of the providers list. The test stacks share it so that they map the bar's
// attributes alike.
const BarreauMapping = `    mapping:
      given_name: givenName
      family_name: sn
      email: mail
      professional_id: numeroAvocat
      profession: {value: avocat}
      barreau: {attribute: barreau}
`
