package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/providers"
)

// maxResponseBytes bounds every answer read from the upstream.
const maxResponseBytes = 1 << 20

// tokenResponse is RFC 6749 §5.1 plus OIDC Core §3.1.3.3.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
}

// tokenError is RFC 6749 §5.2.
type tokenError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

// errInvalidGrant marks an invalid_grant answer (RFC 6749 §5.2), which Refresh
// turns into providers.ErrAccountDisabled.
var errInvalidGrant = errors.New("invalid_grant")

// token calls the token endpoint with form and the client authentication.
func (p *Provider) token(ctx context.Context, md *metadata, op string, form url.Values) (*tokenResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout())
	defer cancel()
	auth := ""
	switch p.cfg.authMethod() {
	case AuthClientSecretBasic:
		// RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(p.cfg.ClientID)+":"+url.QueryEscape(p.secret)))
	case AuthClientSecretPost:
		form.Set("client_id", p.cfg.ClientID)
		form.Set("client_secret", p.secret)
	case AuthPrivateKeyJWT:
		assertion, err := p.clientAssertion(md.TokenEndpoint)
		if err != nil {
			return nil, fmt.Errorf("oidc: %s: client assertion: %w", op, err)
		}
		form.Set("client_id", p.cfg.ClientID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, md.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("oidc: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, body, err := p.do(req)
	if err != nil {
		return nil, transport(op, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode >= 500:
		return nil, unavailable("%s: HTTP %d", op, resp.StatusCode)
	default:
		var te tokenError
		_ = json.Unmarshal(body, &te)
		p.log.Warn("oidc: token endpoint refused", "issuer", p.cfg.Issuer, "op", op, "status", resp.StatusCode,
			"error", te.Code, "error_description", truncate(te.Description, 200))
		if te.Code == "invalid_grant" {
			return nil, fmt.Errorf("oidc: %s: %w: %w", op, errInvalidGrant, providers.ErrInvalidResponse)
		}
		return nil, invalid("%s: HTTP %d %s", op, resp.StatusCode, truncate(te.Code, 64))
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, invalid("%s: %v", op, err)
	}
	if tr.AccessToken == "" {
		return nil, invalid("%s: no access_token", op)
	}
	// RFC 6749 §7.1: the type is case-insensitive; only bearer tokens are used.
	if !strings.EqualFold(tr.TokenType, "Bearer") {
		return nil, invalid("%s: token_type %q is not Bearer", op, truncate(tr.TokenType, 32))
	}
	return &tr, nil
}

// clientAssertion signs a private_key_jwt assertion (RFC 7523 §3, OIDC Core §9):
// iss and sub are the client_id, aud the token endpoint, a fresh jti, one minute.
func (p *Provider) clientAssertion(tokenEndpoint string) (string, error) {
	now := p.now()
	claims := map[string]any{
		"iss": p.cfg.ClientID,
		"sub": p.cfg.ClientID,
		"aud": tokenEndpoint,
		"jti": randomString(),
		"iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(),
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := p.assertionSigner.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// loadSigner reads the private_key_jwt key and makes a signer with its RFC 7638
// thumbprint as kid.
func loadSigner(path string) (jose.Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("oidc: private_key_file: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("oidc: private_key_file: no PEM block")
	}
	var key crypto.Signer
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		var k any
		if k, err = x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			var ok bool
			if key, ok = k.(crypto.Signer); !ok {
				err = fmt.Errorf("unsupported key type %T", k)
			}
		}
	default:
		err = fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("oidc: private_key_file: %w", err)
	}
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("oidc: private_key_file: RSA key under %d bits", minRSABits)
		}
		alg = jose.RS256
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			alg = jose.ES256
		case elliptic.P384():
			alg = jose.ES384
		default:
			return nil, errors.New("oidc: private_key_file: EC key must be P-256 or P-384")
		}
	case ed25519.PrivateKey:
		alg = jose.EdDSA
	default:
		return nil, fmt.Errorf("oidc: private_key_file: unsupported key type %T", key)
	}
	pub := jose.JSONWebKey{Key: key.Public()}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("oidc: private_key_file: %w", err)
	}
	jwk := jose.JSONWebKey{Key: key, KeyID: base64.RawURLEncoding.EncodeToString(thumb), Algorithm: string(alg)}
	return jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jwk}, (&jose.SignerOptions{}).WithType("JWT"))
}

// userinfo fetches the userinfo response (OIDC Core §5.3): JSON, or a signed JWT
// (application/jwt) verified like an ID token minus exp/iat (§5.3.2).
func (p *Provider) userinfo(ctx context.Context, md *metadata, accessToken string) (claimSet, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, md.UserinfoEndpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("oidc: userinfo: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json, application/jwt")
	resp, body, err := p.do(req)
	if err != nil {
		return nil, transport("userinfo", err)
	}
	if resp.StatusCode >= 500 {
		return nil, unavailable("userinfo: HTTP %d", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, invalid("userinfo: HTTP %d", resp.StatusCode)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch ct {
	case "application/jwt":
		claims, _, err := p.verifyJWT(ctx, md, strings.TrimSpace(string(body)), expectations{what: "userinfo"})
		return claims, err
	case "application/json":
		claims := claimSet{}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		if err := dec.Decode(&claims); err != nil {
			return nil, invalid("userinfo: %v", err)
		}
		if claims.str("sub") == "" {
			return nil, invalid("userinfo: sub missing")
		}
		return claims, nil
	default:
		return nil, invalid("userinfo: content type %q", ct)
	}
}

// do sends req without following redirects and reads a bounded body.
func (p *Provider) do(req *http.Request) (*http.Response, []byte, error) {
	resp, err := p.httpClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, nil, err
	}
	if len(body) > maxResponseBytes {
		return nil, nil, invalid("answer larger than %d bytes", maxResponseBytes)
	}
	return resp, body, nil
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
