// Package clientcert reads the client certificate a TLS-terminating proxy passes
// on in the RFC 9440 header fields, for the agent card origin when TLS ends before
// the broker. Whether the request came from a trusted proxy is the caller's
// decision (SECURITY.md I5).
package clientcert

import (
	stdx509 "crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Header fields of RFC 9440 (client certificate information conveyed by a
// TLS-terminating reverse proxy).
const (
	HeaderClientCert      = "Client-Cert"
	HeaderClientCertChain = "Client-Cert-Chain"
)

const (
	// maxCertField bounds the encoded Client-Cert value (a smart card certificate
	// is 1 to 3 KB of DER).
	maxCertField = 16 << 10
	// maxChainField bounds the encoded Client-Cert-Chain value.
	maxChainField = 64 << 10
	// maxChainLength bounds the certificates taken (leaf included).
	maxChainLength = 10
)

// ChainFromHeaders parses the RFC 9440 fields a TLS-terminating proxy set:
// Client-Cert, the DER leaf as a Structured Field Byte Sequence (":BASE64:", RFC
// 8941 §3.3.5), and the optional Client-Cert-Chain, a List of Byte Sequences
// (RFC 9440 §2.3). It returns the leaf first, then the chain, for a card provider,
// or nil and no error when Client-Cert is absent (Client-Cert-Chain alone is an
// error).
//
// Parsing is strict: one Client-Cert field line, no parameters, padded or
// unpadded standard base64 with nothing else, bounded sizes, DER that parses.
// Whether the request came from the trusted proxy at all (SECURITY.md I5, RFC
// 9440 §4) is the caller's decision; the proxy must strip these fields from
// what clients send.
func ChainFromHeaders(h http.Header) ([]*stdx509.Certificate, error) {
	certLines := h.Values(HeaderClientCert)
	chainLines := h.Values(HeaderClientCertChain)
	if len(certLines) == 0 {
		if len(chainLines) > 0 {
			return nil, errors.New("clientcert: Client-Cert-Chain without Client-Cert")
		}
		return nil, nil
	}
	if len(certLines) > 1 {
		return nil, errors.New("clientcert: several Client-Cert field lines")
	}
	if len(certLines[0]) > maxCertField {
		return nil, fmt.Errorf("clientcert: Client-Cert larger than %d bytes", maxCertField)
	}
	der, err := parseByteSequence(trimOWS(certLines[0]))
	if err != nil {
		return nil, fmt.Errorf("clientcert: Client-Cert: %w", err)
	}
	leaf, err := stdx509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("clientcert: Client-Cert: %w", err)
	}
	chain := []*stdx509.Certificate{leaf}
	if len(chainLines) == 0 {
		return chain, nil
	}
	// RFC 9110 §5.3: field lines of a list combine with commas.
	joined := strings.Join(chainLines, ",")
	if len(joined) > maxChainField {
		return nil, fmt.Errorf("clientcert: Client-Cert-Chain larger than %d bytes", maxChainField)
	}
	for i, member := range strings.Split(joined, ",") {
		if len(chain) >= maxChainLength {
			return nil, fmt.Errorf("clientcert: Client-Cert-Chain: more than %d certificates", maxChainLength-1)
		}
		der, err := parseByteSequence(trimOWS(member))
		if err != nil {
			return nil, fmt.Errorf("clientcert: Client-Cert-Chain[%d]: %w", i, err)
		}
		c, err := stdx509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("clientcert: Client-Cert-Chain[%d]: %w", i, err)
		}
		chain = append(chain, c)
	}
	return chain, nil
}

// trimOWS removes optional whitespace (SP, HTAB) around a value (RFC 9110 §5.6.3).
func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}

// parseByteSequence decodes ":base64:" (RFC 8941 §4.2.7), without parameters.
func parseByteSequence(s string) ([]byte, error) {
	if len(s) < 2 || s[0] != ':' || s[len(s)-1] != ':' {
		return nil, errors.New("not a byte sequence (:base64:)")
	}
	body := s[1 : len(s)-1]
	if body == "" {
		return nil, errors.New("empty byte sequence")
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return nil, fmt.Errorf("character %q outside base64", c)
		}
	}
	enc := base64.StdEncoding.Strict()
	if !strings.HasSuffix(body, "=") && len(body)%4 != 0 {
		// RFC 8941 §4.2.7: parsers SHOULD NOT fail when padding is absent.
		enc = base64.RawStdEncoding.Strict()
	}
	der, err := enc.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("base64: %w", err)
	}
	return der, nil
}
