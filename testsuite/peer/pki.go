package peer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// CA is a throwaway certificate authority generated at test time, so that nothing
// that expires lives in the repository (DESIGN.md, Tests). It issues server
// certificates for the peers (slapd's ldaps://), client certificates (smart-card
// tests), intermediate CAs and CRLs.
type CA struct {
	// Cert is the CA certificate; CertPEM its PEM encoding.
	Cert    *x509.Certificate
	CertPEM []byte
	// Key is the CA's private key; KeyPEM its PKCS#8 PEM encoding.
	Key    crypto.Signer
	KeyPEM []byte

	mu        sync.Mutex
	serial    int64
	crlNumber int64
	now       time.Time
}

// CertSpec is what an Issue call builds: the template the options edit and the kind
// of key to generate for it.
type CertSpec struct {
	// Template is the certificate to sign. Issue fills SerialNumber, SubjectKeyId
	// and AuthorityKeyId when they are empty.
	Template *x509.Certificate
	// RSABits, when non-zero, generates an RSA key of that size instead of the
	// default ECDSA P-256 key.
	RSABits int
	// Key, when set, is certified instead of a generated key (its PEM is then empty
	// unless it can be marshalled as PKCS#8).
	Key crypto.Signer
}

// CertOption edits a CertSpec before it is signed.
type CertOption func(*CertSpec)

// WithCommonName sets the subject's CN.
func WithCommonName(cn string) CertOption {
	return func(s *CertSpec) { s.Template.Subject.CommonName = cn }
}

// WithSubject replaces the whole subject name.
func WithSubject(name pkix.Name) CertOption {
	return func(s *CertSpec) { s.Template.Subject = name }
}

// WithDNSNames adds DNS subjectAltNames.
func WithDNSNames(names ...string) CertOption {
	return func(s *CertSpec) { s.Template.DNSNames = append(s.Template.DNSNames, names...) }
}

// WithIPs adds IP address subjectAltNames.
func WithIPs(ips ...net.IP) CertOption {
	return func(s *CertSpec) { s.Template.IPAddresses = append(s.Template.IPAddresses, ips...) }
}

// WithEmails adds rfc822Name subjectAltNames.
func WithEmails(addrs ...string) CertOption {
	return func(s *CertSpec) { s.Template.EmailAddresses = append(s.Template.EmailAddresses, addrs...) }
}

// WithServerAuth makes a TLS server certificate for 127.0.0.1 and localhost (key
// usage digitalSignature + keyEncipherment, EKU serverAuth).
func WithServerAuth() CertOption {
	return func(s *CertSpec) {
		s.Template.DNSNames = append(s.Template.DNSNames, "localhost")
		s.Template.IPAddresses = append(s.Template.IPAddresses, net.IPv4(127, 0, 0, 1), net.IPv6loopback)
		s.Template.KeyUsage |= x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		s.Template.ExtKeyUsage = append(s.Template.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
}

// WithClientAuth makes a TLS client certificate (EKU clientAuth).
func WithClientAuth() CertOption {
	return func(s *CertSpec) {
		s.Template.KeyUsage |= x509.KeyUsageDigitalSignature
		s.Template.ExtKeyUsage = append(s.Template.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
}

// WithExtKeyUsage replaces the extended key usages (nil: none at all), and
// WithUnknownExtKeyUsage adds OIDs Go has no constant for (smart card logon is
// 1.3.6.1.4.1.311.20.2.2).
func WithExtKeyUsage(usages ...x509.ExtKeyUsage) CertOption {
	return func(s *CertSpec) { s.Template.ExtKeyUsage = usages }
}

// WithUnknownExtKeyUsage adds extended key usage OIDs by number.
func WithUnknownExtKeyUsage(oids ...asn1.ObjectIdentifier) CertOption {
	return func(s *CertSpec) { s.Template.UnknownExtKeyUsage = append(s.Template.UnknownExtKeyUsage, oids...) }
}

// WithPolicies adds certificate policy OIDs (RFC 5280 §4.2.1.4). They go to
// Policies, which CreateCertificate encodes since Go 1.24 (x509usepolicies=1), and
// to PolicyIdentifiers for older settings.
func WithPolicies(oids ...asn1.ObjectIdentifier) CertOption {
	return func(s *CertSpec) {
		s.Template.PolicyIdentifiers = append(s.Template.PolicyIdentifiers, oids...)
		for _, o := range oids {
			oid, err := x509.OIDFromInts(oidInts(o))
			if err != nil {
				panic("peer: pki: policy " + o.String() + ": " + err.Error())
			}
			s.Template.Policies = append(s.Template.Policies, oid)
		}
	}
}

func oidInts(o asn1.ObjectIdentifier) []uint64 {
	out := make([]uint64, len(o))
	for i, n := range o {
		out[i] = uint64(n)
	}
	return out
}

// WithValidity sets notBefore and notAfter (expired or not-yet-valid certificates).
func WithValidity(notBefore, notAfter time.Time) CertOption {
	return func(s *CertSpec) { s.Template.NotBefore, s.Template.NotAfter = notBefore, notAfter }
}

// WithSerial sets the serial number instead of the CA's counter.
func WithSerial(n *big.Int) CertOption {
	return func(s *CertSpec) { s.Template.SerialNumber = n }
}

// WithCRLDistributionPoints adds CRL distribution point URLs.
func WithCRLDistributionPoints(urls ...string) CertOption {
	return func(s *CertSpec) {
		s.Template.CRLDistributionPoints = append(s.Template.CRLDistributionPoints, urls...)
	}
}

// WithOCSPServer adds OCSP responder URLs (authority information access).
func WithOCSPServer(urls ...string) CertOption {
	return func(s *CertSpec) { s.Template.OCSPServer = append(s.Template.OCSPServer, urls...) }
}

// WithRSA generates an RSA key of bits instead of ECDSA P-256.
func WithRSA(bits int) CertOption {
	return func(s *CertSpec) { s.RSABits = bits }
}

// WithKey certifies key instead of a generated one.
func WithKey(key crypto.Signer) CertOption {
	return func(s *CertSpec) { s.Key = key }
}

// WithTemplate edits the template directly, for anything the other options miss
// (extra extensions, subject key id, ...).
func WithTemplate(edit func(*x509.Certificate)) CertOption {
	return func(s *CertSpec) { edit(s.Template) }
}

// NewCA generates a self-signed root CA named name (its CN), valid from one hour
// ago for ten years. Options apply to the CA certificate (WithRSA, WithValidity...).
func NewCA(t testing.TB, name string, opts ...CertOption) *CA {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	spec := &CertSpec{Template: &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"JusticeConnect tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SerialNumber:          big.NewInt(1),
	}}
	for _, o := range opts {
		o(spec)
	}
	key := spec.Key
	if key == nil {
		key = generateKey(t, spec.RSABits)
	}
	spec.Template.SubjectKeyId = keyID(t, key.Public())
	der, err := x509.CreateCertificate(rand.Reader, spec.Template, spec.Template, key.Public(), key)
	if err != nil {
		t.Fatalf("peer: pki: create CA %s: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("peer: pki: parse CA %s: %v", name, err)
	}
	return &CA{
		Cert:    cert,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:     key,
		KeyPEM:  keyPEM(t, key),
		serial:  1,
		now:     now,
	}
}

// Issue signs a new end-entity certificate with a fresh key (ECDSA P-256 unless
// WithRSA or WithKey), valid from one hour ago for one year. Without options it is a
// bare certificate with no usages: pass WithServerAuth or WithClientAuth. It returns
// the certificate and key in PEM (PKCS#8), the parsed certificate and the key.
func (ca *CA) Issue(t testing.TB, opts ...CertOption) (certPEM, keyPEMBytes []byte, cert *x509.Certificate, key crypto.Signer) {
	t.Helper()
	spec := &CertSpec{Template: &x509.Certificate{
		Subject:               pkix.Name{CommonName: "test", Organization: []string{"JusticeConnect tests"}},
		NotBefore:             ca.now.Add(-time.Hour),
		NotAfter:              ca.now.AddDate(1, 0, 0),
		BasicConstraintsValid: true,
	}}
	for _, o := range opts {
		o(spec)
	}
	return ca.sign(t, spec)
}

// IssueCA signs an intermediate CA named name, for chain tests.
func (ca *CA) IssueCA(t testing.TB, name string, opts ...CertOption) *CA {
	t.Helper()
	spec := &CertSpec{Template: &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"JusticeConnect tests"}},
		NotBefore:             ca.now.Add(-time.Hour),
		NotAfter:              ca.now.AddDate(5, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}}
	for _, o := range opts {
		o(spec)
	}
	certPEM, kp, cert, key := ca.sign(t, spec)
	return &CA{Cert: cert, CertPEM: certPEM, Key: key, KeyPEM: kp, serial: 1, now: ca.now}
}

func (ca *CA) sign(t testing.TB, spec *CertSpec) ([]byte, []byte, *x509.Certificate, crypto.Signer) {
	t.Helper()
	key := spec.Key
	if key == nil {
		key = generateKey(t, spec.RSABits)
	}
	tmpl := spec.Template
	if tmpl.SerialNumber == nil {
		ca.mu.Lock()
		ca.serial++
		// A large, unique serial like real CAs use (RFC 5280 §4.1.2.2 allows 20 octets).
		tmpl.SerialNumber = new(big.Int).Add(new(big.Int).Lsh(big.NewInt(ca.serial), 64), randomBig(t))
		ca.mu.Unlock()
	}
	if tmpl.SubjectKeyId == nil {
		tmpl.SubjectKeyId = keyID(t, key.Public())
	}
	tmpl.AuthorityKeyId = ca.Cert.SubjectKeyId
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("peer: pki: issue %q: %v", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("peer: pki: parse %q: %v", tmpl.Subject.CommonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM(t, key), cert, key
}

// CRL returns a DER-encoded X.509 v2 CRL (RFC 5280 §5) signed by the CA that lists
// revoked, issued now and valid for one day. Each call gets a higher CRL number.
// Use CRLPEM for the PEM form.
func (ca *CA) CRL(t testing.TB, revoked ...*x509.Certificate) []byte {
	t.Helper()
	return ca.CRLAt(t, time.Now(), revoked...)
}

// CRLAt is CRL with thisUpdate at now and nextUpdate a day later (stale CRL tests).
func (ca *CA) CRLAt(t testing.TB, now time.Time, revoked ...*x509.Certificate) []byte {
	t.Helper()
	ca.mu.Lock()
	ca.crlNumber++
	number := ca.crlNumber
	ca.mu.Unlock()
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: now.Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                now.Add(-time.Minute),
		NextUpdate:                now.Add(24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.Key)
	if err != nil {
		t.Fatalf("peer: pki: CRL: %v", err)
	}
	return der
}

// CRLPEM encodes a DER CRL as PEM ("X509 CRL"), the form OpenSSL and GnuTLS read.
func CRLPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// WriteCert writes the CA certificate to dir/name and returns the path.
func (ca *CA) WriteCert(t testing.TB, dir, name string) string {
	t.Helper()
	return WriteFile(t, dir, name, string(ca.CertPEM))
}

// WritePair writes a certificate and its key to dir/name.crt and dir/name.key
// (mode 0600) and returns both paths.
func WritePair(t testing.TB, dir, name string, certPEM, keyPEM []byte) (certFile, keyFile string) {
	t.Helper()
	return WriteFile(t, dir, name+".crt", string(certPEM)), WriteFile(t, dir, name+".key", string(keyPEM))
}

// Pool returns a certificate pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// WriteFiles writes the CA certificate and key into dir as name.crt and name.key.
func (ca *CA) WriteFiles(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	return WritePair(t, dir, name, ca.CertPEM, ca.KeyPEM)
}

func generateKey(t testing.TB, rsaBits int) crypto.Signer {
	t.Helper()
	if rsaBits > 0 {
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			t.Fatalf("peer: pki: RSA key: %v", err)
		}
		return k
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("peer: pki: ECDSA key: %v", err)
	}
	return k
}

func keyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		// A key we did not generate (a hardware-like signer): no PEM.
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// keyID is the RFC 5280 §4.2.1.2 method (1) key identifier: SHA-1 of the public key bits.
func keyID(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatalf("peer: pki: public key: %v", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		t.Fatalf("peer: pki: public key: %v", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:]
}

func randomBig(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("peer: pki: serial: %v", err)
	}
	return n
}
