package clientcert

import (
	stdx509 "crypto/x509"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

func TestChainFromHeaders(t *testing.T) {
	root := peer.NewCA(t, "root")
	sub := root.IssueCA(t, "sub")
	_, _, leaf, _ := sub.Issue(t, peer.WithClientAuth())
	sf := func(c *stdx509.Certificate) string { return ":" + base64.StdEncoding.EncodeToString(c.Raw) + ":" }
	raw := func(c *stdx509.Certificate) string { return ":" + base64.RawStdEncoding.EncodeToString(c.Raw) + ":" }

	tests := []struct {
		name    string
		cert    []string
		chain   []string
		want    []*stdx509.Certificate
		wantErr string
	}{
		{name: "absent"},
		{name: "leaf", cert: []string{sf(leaf)}, want: []*stdx509.Certificate{leaf}},
		{name: "leaf with OWS", cert: []string{" \t" + sf(leaf) + " "}, want: []*stdx509.Certificate{leaf}},
		{name: "leaf unpadded", cert: []string{raw(leaf)}, want: []*stdx509.Certificate{leaf}},
		{name: "chain", cert: []string{sf(leaf)}, chain: []string{sf(sub.Cert) + ", " + sf(root.Cert)},
			want: []*stdx509.Certificate{leaf, sub.Cert, root.Cert}},
		{name: "chain on two field lines", cert: []string{sf(leaf)}, chain: []string{sf(sub.Cert), sf(root.Cert)},
			want: []*stdx509.Certificate{leaf, sub.Cert, root.Cert}},
		{name: "chain without cert", chain: []string{sf(sub.Cert)}, wantErr: "without Client-Cert"},
		{name: "two Client-Cert lines", cert: []string{sf(leaf), sf(leaf)}, wantErr: "several"},
		{name: "no colons", cert: []string{base64.StdEncoding.EncodeToString(leaf.Raw)}, wantErr: "byte sequence"},
		{name: "PEM", cert: []string{"-----BEGIN CERTIFICATE-----"}, wantErr: "byte sequence"},
		{name: "parameters", cert: []string{sf(leaf) + ";a=1"}, wantErr: "byte sequence"},
		{name: "empty", cert: []string{"::"}, wantErr: "empty"},
		{name: "URL-safe base64", cert: []string{":" + base64.URLEncoding.EncodeToString(leaf.Raw) + "_-:"}, wantErr: "outside base64"},
		{name: "space inside", cert: []string{":" + base64.StdEncoding.EncodeToString(leaf.Raw)[:8] + " " + base64.StdEncoding.EncodeToString(leaf.Raw)[8:] + ":"}, wantErr: "outside base64"},
		{name: "bad padding", cert: []string{":QQ=:"}, wantErr: "base64"},
		{name: "not DER", cert: []string{":" + base64.StdEncoding.EncodeToString([]byte("hello")) + ":"}, wantErr: "x509"},
		{name: "trailing data after DER", cert: []string{":" + base64.StdEncoding.EncodeToString(append(append([]byte{}, leaf.Raw...), 0)) + ":"}, wantErr: "x509"},
		{name: "too large", cert: []string{":" + strings.Repeat("A", maxCertField) + ":"}, wantErr: "larger"},
		{name: "empty chain member", cert: []string{sf(leaf)}, chain: []string{sf(sub.Cert) + ",," + sf(root.Cert)}, wantErr: "Client-Cert-Chain[1]"},
		{name: "chain member not DER", cert: []string{sf(leaf)}, chain: []string{":AAAA:"}, wantErr: "Client-Cert-Chain[0]"},
		{name: "chain too long", cert: []string{sf(leaf)}, chain: []string{strings.Repeat(sf(sub.Cert)+",", maxChainLength) + sf(sub.Cert)}, wantErr: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.cert {
				h.Add(HeaderClientCert, v)
			}
			for _, v := range tt.chain {
				h.Add(HeaderClientCertChain, v)
			}
			got, err := ChainFromHeaders(h)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("certificates returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d certificates, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) {
					t.Errorf("certificate %d is %q, want %q", i, got[i].Subject, tt.want[i].Subject)
				}
			}
		})
	}
}
