package login

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/http"
	"testing"
	"time"
)

func selfSigned(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sfBytes(c *x509.Certificate) string { return ":" + base64.StdEncoding.EncodeToString(c.Raw) + ":" }

// SECURITY.md I5: the header counts only from a configured proxy; from anyone else
// it is refused, whatever the TLS layer says.
func TestCardChainTrustsOnlyConfiguredProxies(t *testing.T) {
	proxies, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7", "::ffff:198.51.100.1"})
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{cfg: Config{Card: CardOrigin{TrustedProxies: proxies}}}
	leaf := selfSigned(t, "leaf")
	for addr, trusted := range map[string]bool{
		"10.1.2.3:443": true, "192.0.2.7:1234": true, "198.51.100.1:80": true, "[::ffff:10.0.0.1]:5": true,
		"192.0.2.8:1234": false, "127.0.0.1:80": false, "garbage": false,
	} {
		r, _ := http.NewRequest(http.MethodGet, "https://carte.example/card/login", nil)
		r.RemoteAddr = addr
		r.Header.Set("Client-Cert", sfBytes(leaf))
		chain, err := h.cardChain(r)
		if trusted && (err != nil || len(chain) != 1) {
			t.Errorf("%s: header from a trusted proxy refused: %v", addr, err)
		}
		if !trusted && err != errUntrustedHeader {
			t.Errorf("%s: header from an untrusted address: err %v", addr, err)
		}
	}
	if _, err := ParseTrustedProxies([]string{"proxy.example"}); err == nil {
		t.Error("a host name was accepted as a trusted proxy")
	}
	r, _ := http.NewRequest(http.MethodGet, "https://carte.example/card/login", nil)
	if _, err := h.cardChain(r); err != errNoCertificate {
		t.Errorf("no TLS, no header: %v", err)
	}
}
