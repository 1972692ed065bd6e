package faults

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// delayer is a reverse proxy in front of SimpleSAMLphp that holds every request
// for delay while slow is set (or until the caller gives up).
type delayer struct {
	srv   *httptest.Server
	slow  atomic.Bool
	held  atomic.Int32
	delay time.Duration
	stop  chan struct{}
}

func startDelayer(t *testing.T, target string, delay time.Duration) *delayer {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	d := &delayer{delay: delay, stop: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u)
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.slow.Load() {
			d.held.Add(1)
			select {
			case <-time.After(d.delay):
			case <-r.Context().Done():
				return
			case <-d.stop:
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		close(d.stop)
		d.srv.Close()
	})
	return d
}

// loginSAML runs a lawyer's login at SimpleSAMLphp from the broker's redirect and
// returns the broker's answer to the posted response.
func (s *stack) loginSAML(t *testing.T, f *flow, toIdP *page, user string) *page {
	t.Helper()
	if toIdP.Location == nil || !strings.HasPrefix(toIdP.Location.String(), s.ssp.SSOURL+"?") {
		t.Fatalf("broker did not send the browser to SimpleSAMLphp: %d %v %.1000s", toIdP.Status, toIdP.Location, toIdP.Body)
	}
	var password string
	for _, u := range s.ssp.Users {
		if u.Username == user {
			password = u.Password
		}
	}
	login := walk(t, f.b, http.MethodGet, toIdP.Location.String(), nil)
	fs := forms(login.Body)
	if len(fs) != 1 || fs[0].Fields.Get("AuthState") == "" {
		t.Fatalf("no SimpleSAMLphp login form: %d %.1500s", login.Status, login.Body)
	}
	target := *login.URL
	target.RawQuery = ""
	post := walk(t, f.b, http.MethodPost, target.String(), url.Values{
		"username": {user}, "password": {password}, "AuthState": {fs[0].Fields.Get("AuthState")}})
	fs = forms(post.Body)
	if len(fs) != 1 || fs[0].Fields.Get("SAMLResponse") == "" {
		t.Fatalf("no SAMLResponse from SimpleSAMLphp: %d %.1500s", post.Status, post.Body)
	}
	return walk(t, f.b, http.MethodPost, fs[0].Action, url.Values{
		"SAMLResponse": {fs[0].Fields.Get("SAMLResponse")}, "RelayState": {fs[0].Fields.Get("RelayState")}})
}

// timedLDAPLogin is a whole directory login through the chooser, timed.
func (s *stack) timedLDAPLogin(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	s.loginLDAP(t, "pmartin")
	return time.Since(start)
}

// TestSlowSAMLIdP: the bar's IdP answers in 10 s. The SAML provider reads its
// metadata through a delaying proxy (idp_metadata_url, refreshed every second).
func TestSlowSAMLIdP(t *testing.T) {
	var d *delayer
	s := startStack(t, stackOptions{ldap: true, saml: true, samlRefresh: "1s",
		samlMetadataURL: func(real string) string {
			u, _ := url.Parse(real)
			d = startDelayer(t, u.Scheme+"://"+u.Host, 10*time.Second)
			return d.srv.URL + u.Path
		}})

	// Before the fault: both work; the directory's login latency is the reference.
	f := s.newFlow()
	f.redeem(t, s.loginSAML(t, f, f.start(t, url.Values{"idp_hint": {"barreau"}}), "adupont"))
	var normal time.Duration
	for range 3 {
		normal = max(normal, s.timedLDAPLogin(t))
	}
	t.Logf("directory login before the fault: %v at most", normal)

	d.slow.Store(true)
	time.Sleep(1100 * time.Millisecond) // a metadata refresh is due

	var worst time.Duration
	for i := range 4 {
		el := s.timedLDAPLogin(t)
		t.Logf("directory login %d while the IdP is slow: %v", i, el)
		worst = max(worst, el)
	}
	f = s.newFlow()
	chooser := f.start(t, nil)
	t.Logf("chooser while the IdP is slow: %d in %v, barreau offered: %v, held requests: %d",
		chooser.Status, chooser.Elapsed, chooserForm(chooser, "barreau") != nil, d.held.Load())
	f = s.newFlow()
	hinted := f.start(t, url.Values{"idp_hint": {"barreau"}})
	t.Logf("idp_hint=barreau while the IdP is slow: %d in %v, Location %v", hinted.Status, hinted.Elapsed, hinted.Location)

	if worst > normal+time.Second {
		t.Errorf("directory logins took up to %v while the SAML IdP is slow, %v before", worst, normal)
	}

	d.slow.Store(false)
	fixed := time.Now()
	for {
		f = s.newFlow()
		toIdP := f.start(t, url.Values{"idp_hint": {"barreau"}})
		if toIdP.Location != nil && strings.HasPrefix(toIdP.Location.String(), s.ssp.SSOURL+"?") {
			f.redeem(t, s.loginSAML(t, f, toIdP, "adupont"))
			break
		}
		if time.Since(fixed) > 10*time.Second {
			t.Fatalf("SAML logins did not come back within 10s of the IdP answering: %d %.1000s", toIdP.Status, toIdP.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("IdP fast again: SAML login works after %v", time.Since(fixed))
}
