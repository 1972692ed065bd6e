package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/providers"
	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// BenchmarkAgentLogin times agent logins against the real slapd (issue #4,
// Performance). Each login kind is measured twice in the same run: the provider
// alone (the directory's share: search + bind, or chain checks + lookup) and the
// whole broker flow from /authorize to the token response; the difference is the
// broker's own overhead. Run:
//
//	go test -run '^$' -bench AgentLogin -benchtime 5s ./testsuite/e2e/
func BenchmarkAgentLogin(b *testing.B) {
	c := startCardEnv(b)
	judge := c.slapd.User(b, "jdupont")
	card, cert := c.issueCard(b, judge.Mail)
	chain := []*x509.Certificate{cert}
	ldapImpl := c.impls["annuaire"].(providers.PasswordProvider)
	cardImpl := c.impls["carte"].(providers.CertificateProvider)
	ctx := context.Background()

	b.Run("password/directory", func(b *testing.B) {
		timed(b, func() error { _, err := ldapImpl.Login(ctx, judge.UID, judge.Password); return err })
	})
	b.Run("password/broker", func(b *testing.B) {
		timed(b, func() error { return c.benchPasswordLogin(judge.UID, judge.Password) })
	})
	b.Run("card/provider", func(b *testing.B) {
		timed(b, func() error { _, err := cardImpl.Authenticate(ctx, chain); return err })
	})
	b.Run("card/broker", func(b *testing.B) {
		timed(b, func() error { return c.benchCardLogin(&card) })
	})
}

// timed runs op from 8 goroutines and reports logins/s, p50 and p99.
func timed(b *testing.B, op func() error) {
	var mu sync.Mutex
	var ds []time.Duration
	b.SetParallelism(4) // 8 goroutines on 2 cores: the directory is the bottleneck
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			if err := op(); err != nil {
				b.Error(err)
				return
			}
			d := time.Since(start)
			mu.Lock()
			ds = append(ds, d)
			mu.Unlock()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	if len(ds) > 0 {
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)*50/100].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// benchPasswordLogin is a first login in a fresh browser: authorize (idp_hint to
// the directory), the password form, the code, the token response.
func (c *cardEnv) benchPasswordLogin(uid, password string) error {
	b := c.Browser()
	p := harness.NewPKCE()
	loc, err := follow(b, c.AuthURL(harness.MinistryID, p, url.Values{"scope": {scopes}, "idp_hint": {"annuaire"}}), "/login/password")
	if err != nil {
		return err
	}
	form := url.Values{"flow": {loc.Query().Get("flow")}, "provider": {"annuaire"}, "username": {uid}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, c.Issuer+"/login/password", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.Issuer)
	resp, err := b.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("password: %d", resp.StatusCode)
	}
	return c.codeToToken(b, c.Issuer+resp.Header.Get("Location"), p)
}

// benchCardLogin is a first card login in a fresh browser: a full TLS handshake
// with the card at the card origin each time.
func (c *cardEnv) benchCardLogin(card *tls.Certificate) error {
	b := c.cardBrowser(card)
	p := harness.NewPKCE()
	loc, err := follow(b, c.AuthURL(harness.MinistryID, p, url.Values{"scope": {scopes}, "acr_values": {"eidas3"}}), "/card/login")
	if err != nil {
		return err
	}
	back, err := follow(b, loc.String(), "/login/card/done")
	if err != nil {
		return err
	}
	return c.codeToToken(b, back.String(), p)
}

// follow GETs target and its redirects until one leads to a URL whose path is
// want, which it returns without visiting it.
func follow(b *http.Client, target, want string) (*url.URL, error) {
	for range 8 {
		resp, err := b.Get(target)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			return nil, fmt.Errorf("GET %s: %d without a redirect", target, resp.StatusCode)
		}
		if loc.Path == want {
			return loc, nil
		}
		target = loc.String()
	}
	return nil, fmt.Errorf("no redirect to %s", want)
}

// codeToToken follows target to the client's redirect URI and redeems the code.
func (c *cardEnv) codeToToken(b *http.Client, target string, p harness.PKCE) error {
	for range 8 {
		resp, err := b.Get(target)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			return fmt.Errorf("GET %s: %d", target, resp.StatusCode)
		}
		if strings.HasPrefix(loc.String(), harness.RedirectURI) {
			code := loc.Query().Get("code")
			if code == "" {
				return fmt.Errorf("no code: %s", loc)
			}
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {harness.RedirectURI}, "code_verifier": {p.Verifier}}
			req, _ := http.NewRequest(http.MethodPost, c.Issuer+"/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(harness.MinistryID, harness.MinistrySecret)
			tr, err := c.HTTPClient().Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, tr.Body)
			tr.Body.Close()
			if tr.StatusCode != http.StatusOK {
				return fmt.Errorf("token: %d", tr.StatusCode)
			}
			return nil
		}
		target = loc.String()
	}
	return fmt.Errorf("no redirect to the client")
}
