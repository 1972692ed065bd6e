package ldap

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/providers"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

func TestFailover(t *testing.T) {
	ca := peer.NewCA(t, "shared directory CA")
	users := peer.DefaultLDAPUsers()
	for i := range users {
		users[i].EntryUUID = fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)
	}
	first := peer.StartSlapd(t, peer.SlapdOptions{CA: ca, Users: users, ServicePassword: "shared-service-password"})
	second := peer.StartSlapd(t, peer.SlapdOptions{CA: ca, Users: users, ServicePassword: "shared-service-password"})
	jd := first.User(t, "jdupont")
	ctx := ctxTimeout(t, time.Minute)

	t.Run("dead first URL", func(t *testing.T) {
		dead := fmt.Sprintf("ldaps://127.0.0.1:%d", peer.FreePort(t))
		p := newProvider(t, second, func(c *Config) { c.URLs = []string{dead, second.LDAPSURL} })
		id := mustLogin(t, p.Provider, "jdupont", jd.Password)
		if id.Subject != jd.EntryUUID {
			t.Errorf("subject %q", id.Subject)
		}
		wantErr(t, "check", p.Check(ctx), nil)
		if !strings.Contains(p.logs.String(), dead) {
			t.Error("the dead server is not named in the log")
		}
	})

	t.Run("first server stops after connections were pooled", func(t *testing.T) {
		p := newProvider(t, first, func(c *Config) { c.URLs = []string{first.LDAPSURL, second.LDAPSURL} })
		secondBefore := quietOperations(second)
		firstBefore := quietOperations(first)
		mustLogin(t, p.Provider, "jdupont", jd.Password)
		if f, s := quietOperations(first)-firstBefore, quietOperations(second)-secondBefore; f == 0 || s != 0 {
			t.Fatalf("operations of the first login: first server %d, second %d", f, s)
		}
		secondBefore = quietOperations(second)
		first.Stop()
		id := mustLogin(t, p.Provider, "jdupont", jd.Password)
		if id.Subject != jd.EntryUUID {
			t.Errorf("subject %q", id.Subject)
		}
		if quietOperations(second) == secondBefore {
			t.Error("the second server was not used")
		}
		first.Start(t)
	})

	t.Run("all servers down", func(t *testing.T) {
		p := newProvider(t, first, func(c *Config) {
			c.URLs = []string{fmt.Sprintf("ldaps://127.0.0.1:%d", peer.FreePort(t)), fmt.Sprintf("ldap://127.0.0.1:%d", peer.FreePort(t))}
			c.StartTLS = false
			c.InsecurePlaintext = true
		})
		start := time.Now()
		_, err := p.Login(ctx, "jdupont", jd.Password)
		wantErr(t, "login", err, providers.ErrUnavailable)
		wantErr(t, "check", p.Check(ctx), providers.ErrUnavailable)
		// Empty credentials never reach the (dead) directory: not ErrUnavailable.
		_, err = p.Login(ctx, "jdupont", "")
		wantErr(t, "empty password", err, providers.ErrBadCredentials)
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("refused connections took %v", el)
		}
	})
}

// TestUnavailable pauses the directory (SIGSTOP): TCP connections are still
// accepted by the kernel, nothing answers. Every path must give up within about
// the timeout.
func TestUnavailable(t *testing.T) {
	s := peer.StartSlapd(t, peer.SlapdOptions{})
	jd := s.User(t, "jdupont")
	ctx := ctxTimeout(t, 2*time.Minute)
	const timeout = time.Second
	// One operation hangs at most timeout, a login makes at most three after a
	// connection wait; a generous bound for a loaded machine.
	const bound = 4*timeout + 2*time.Second

	for _, c := range []struct {
		name string
		edit func(*Config)
		warm bool
	}{
		{"ldaps, pooled connections", nil, true},
		{"ldaps, new connection (TLS handshake hangs)", nil, false},
		{"StartTLS, new connection (extended operation hangs)", func(c *Config) { c.URLs, c.StartTLS = []string{s.URL}, true }, false},
		{"StartTLS, pooled connections", func(c *Config) { c.URLs, c.StartTLS = []string{s.URL}, true }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newProvider(t, s, func(cfg *Config) {
				cfg.Timeout = timeout
				if c.edit != nil {
					c.edit(cfg)
				}
			})
			if c.warm {
				mustLogin(t, p.Provider, "jdupont", jd.Password)
			}
			s.Pause(t)
			start := time.Now()
			_, err := p.Login(ctx, "jdupont", jd.Password)
			el := time.Since(start)
			wantErr(t, "login while paused", err, providers.ErrUnavailable)
			if el > bound {
				t.Errorf("login took %v, bound %v", el, bound)
			}
			start = time.Now()
			err = p.Check(ctx)
			wantErr(t, "check while paused", err, providers.ErrUnavailable)
			if el := time.Since(start); el > bound {
				t.Errorf("check took %v", el)
			}
			_, err = p.Refresh(ctx, providers.Identity{Subject: jd.EntryUUID})
			wantErr(t, "refresh while paused", err, providers.ErrUnavailable)
			s.Resume(t)
			// The provider recovers without a restart.
			mustLogin(t, p.Provider, "jdupont", jd.Password)
		})
	}

	t.Run("caller's deadline shorter than the timeout", func(t *testing.T) {
		p := newProvider(t, s, func(cfg *Config) { cfg.Timeout = 10 * time.Second })
		mustLogin(t, p.Provider, "jdupont", jd.Password)
		s.Pause(t)
		defer s.Resume(t)
		start := time.Now()
		_, err := p.Login(ctxTimeout(t, 500*time.Millisecond), "jdupont", jd.Password)
		wantErr(t, "login", err, providers.ErrUnavailable)
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("login took %v despite a 500ms deadline", el)
		}
	})

	t.Run("stopped directory", func(t *testing.T) {
		p := newProvider(t, s, nil)
		mustLogin(t, p.Provider, "jdupont", jd.Password)
		s.Stop()
		_, err := p.Login(ctx, "jdupont", jd.Password)
		wantErr(t, "login", err, providers.ErrUnavailable)
		_, err = p.Login(ctx, "", jd.Password)
		wantErr(t, "empty username", err, providers.ErrBadCredentials)
		s.Start(t)
		mustLogin(t, p.Provider, "jdupont", jd.Password)
	})
}

func TestRefresh(t *testing.T) {
	s := peer.StartSlapd(t, peer.SlapdOptions{})
	ctx := ctxTimeout(t, time.Minute)
	pm := s.User(t, "pmartin")
	jd := s.User(t, "jdupont")
	p := newProvider(t, s, func(c *Config) { c.BaseDN = s.PeopleDN })

	first := mustLogin(t, p.Provider, "pmartin", pm.Password)
	first.Provider = "annuaire"
	p.clock.Add(time.Hour)

	id, err := p.Refresh(ctx, first)
	wantErr(t, "refresh", err, nil)
	if id.Subject != first.Subject || id.Username != "pmartin" || id.Provider != "annuaire" || !id.Authn.Time.Equal(first.Authn.Time) {
		t.Errorf("refreshed identity = %+v", id)
	}

	s.Modify(t, "dn: "+s.UserDN("pmartin")+"\nchangetype: modify\nreplace: departmentNumber\ndepartmentNumber: TJ-LYON\ndepartmentNumber: CA-LYON\n")
	id, err = p.Refresh(ctx, first)
	wantErr(t, "refresh after a new court", err, nil)
	if got := id.Attributes["departmentNumber"]; len(got) != 2 {
		t.Errorf("departmentNumber after change = %v", got)
	}

	s.Modify(t, "dn: "+s.UserDN("pmartin")+"\nchangetype: modify\nreplace: nsAccountLock\nnsAccountLock: TRUE\n")
	_, err = p.Refresh(ctx, first)
	wantErr(t, "refresh disabled", err, providers.ErrAccountDisabled)
	_, err = p.Login(ctx, "pmartin", pm.Password)
	wantErr(t, "login disabled", err, providers.ErrAccountDisabled)

	s.Modify(t, "dn: "+s.UserDN("pmartin")+"\nchangetype: modify\ndelete: nsAccountLock\n")
	_, err = p.Refresh(ctx, first)
	wantErr(t, "refresh re-enabled", err, nil)

	s.Modify(t, "dn: "+s.UserDN("pmartin")+"\nchangetype: delete\n")
	_, err = p.Refresh(ctx, first)
	wantErr(t, "refresh deleted", err, providers.ErrUnknownUser)

	// Moved out of base_dn (ou=people): unknown.
	jid := mustLogin(t, p.Provider, "jdupont", jd.Password)
	s.Modify(t, "dn: "+s.UserDN("jdupont")+"\nchangetype: modrdn\nnewrdn: uid=jdupont\ndeleteoldrdn: 1\nnewsuperior: ou=services,"+s.BaseDN+"\n")
	_, err = p.Refresh(ctx, jid)
	wantErr(t, "refresh moved out", err, providers.ErrUnknownUser)

	for _, subject := range []string{"", "*", "not-a-uuid", jd.EntryUUID[:8] + "*"} {
		_, err = p.Refresh(ctx, providers.Identity{Subject: subject})
		if !errors.Is(err, providers.ErrUnknownUser) {
			t.Errorf("refresh subject %q: %v", subject, err)
		}
	}
}

func TestThrottle(t *testing.T) {
	s := peer.StartSlapd(t, peer.SlapdOptions{})
	jd := s.User(t, "jdupont")
	pm := s.User(t, "pmartin")
	ctx := ctxTimeout(t, time.Minute)

	t.Run("per account, exponential, reset by success", func(t *testing.T) {
		p := newProvider(t, s, nil)
		for i := 0; i < 5; i++ {
			_, err := p.Login(ctx, "jdupont", "wrong")
			wantErr(t, fmt.Sprintf("failure %d", i+1), err, providers.ErrBadCredentials)
		}
		before := quietOperations(s)
		_, err := p.Login(ctx, "jdupont", jd.Password)
		wantErr(t, "right password while throttled", err, providers.ErrThrottled)
		_, err = p.Login(ctx, "JDUPONT ", jd.Password)
		wantErr(t, "same account, other spelling", err, providers.ErrThrottled)
		if after := quietOperations(s); after != before {
			t.Errorf("a throttled login reached the directory (%d operations)", after-before)
		}
		// Other accounts are not affected.
		mustLogin(t, p.Provider, "pmartin", pm.Password)

		p.clock.Add(time.Second) // 5 failures: 1s
		_, err = p.Login(ctx, "jdupont", "wrong")
		wantErr(t, "6th failure", err, providers.ErrBadCredentials)
		p.clock.Add(time.Second) // 6 failures: 2s
		_, err = p.Login(ctx, "jdupont", jd.Password)
		wantErr(t, "after 1s of 2s", err, providers.ErrThrottled)
		p.clock.Add(time.Second)
		mustLogin(t, p.Provider, "jdupont", jd.Password)
		// The success reset the count: five more failures are free.
		for i := 0; i < 5; i++ {
			_, err := p.Login(ctx, "jdupont", "wrong")
			wantErr(t, "after reset", err, providers.ErrBadCredentials)
		}
	})

	t.Run("unknown users are counted like known ones", func(t *testing.T) {
		p := newProvider(t, s, nil)
		for i := 0; i < 5; i++ {
			_, err := p.Login(ctx, "ghost", "wrong")
			wantErr(t, "ghost", err, providers.ErrBadCredentials)
		}
		_, err := p.Login(ctx, "ghost", "wrong")
		wantErr(t, "ghost throttled", err, providers.ErrThrottled)
	})

	t.Run("per client address", func(t *testing.T) {
		p := newProvider(t, s, func(c *Config) { c.Throttle.AddressFailures = 3 })
		bad := providers.WithClientAddr(ctx, "198.51.100.7")
		for i := 0; i < 3; i++ {
			_, err := p.Login(bad, fmt.Sprintf("user%d", i), "wrong")
			wantErr(t, "spray", err, providers.ErrBadCredentials)
		}
		_, err := p.Login(bad, "jdupont", jd.Password)
		wantErr(t, "same address, other account", err, providers.ErrThrottled)
		mustLogin(t, p.Provider, "jdupont", jd.Password) // other address (none)
		_, err = p.Login(providers.WithClientAddr(ctx, "198.51.100.8"), "pmartin", pm.Password)
		wantErr(t, "other address", err, nil)
		// A success does not reset the address.
		p.clock.Add(time.Second)
		_, err = p.Login(bad, "pmartin", pm.Password)
		wantErr(t, "after 1s", err, nil)
		_, err = p.Login(bad, "user9", "wrong")
		wantErr(t, "4th failure", err, providers.ErrBadCredentials)
		_, err = p.Login(bad, "pmartin", pm.Password)
		wantErr(t, "address still counted", err, providers.ErrThrottled)
	})

	t.Run("no permanent lockout", func(t *testing.T) {
		p := newProvider(t, s, nil)
		for i := 0; i < 40; i++ {
			_, err := p.Login(ctx, "jdupont", "wrong")
			if errors.Is(err, providers.ErrThrottled) {
				p.clock.Add(DefaultMaxDelay)
				continue
			}
			wantErr(t, "failure", err, providers.ErrBadCredentials)
		}
		p.clock.Add(DefaultMaxDelay)
		mustLogin(t, p.Provider, "jdupont", jd.Password)
	})
}

// TestThrottleDelays checks the schedule without a directory.
func TestThrottleDelays(t *testing.T) {
	th := newThrottle(ThrottleConfig{AccountFailures: 5, AddressFailures: 50, MaxDelay: 15 * time.Minute})
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{0, 0}, {4, 0}, {5, time.Second}, {6, 2 * time.Second}, {10, 32 * time.Second}, {14, 512 * time.Second}, {15, 15 * time.Minute}, {1000, 15 * time.Minute}} {
		if got := th.delay(c.n, 5); got != c.want {
			t.Errorf("delay(%d) = %v, want %v", c.n, got, c.want)
		}
	}
	now := fixedTime
	for i := 0; i < 20; i++ {
		th.fail(now, "a", "")
	}
	if w := th.wait(now, "a", ""); w != 15*time.Minute {
		t.Errorf("wait = %v", w)
	}
	if w := th.wait(now.Add(15*time.Minute), "a", ""); w != 0 {
		t.Errorf("wait after max delay = %v", w)
	}
	th.fail(now.Add(15*time.Minute), "a", "")
	if w := th.wait(now.Add(16*time.Minute), "a", ""); w != 14*time.Minute {
		t.Errorf("wait after one more failure = %v", w)
	}
	// Forgotten after a day without failures.
	later := now.Add(15*time.Minute + throttleForget)
	if w := th.wait(later, "a", ""); w != 0 {
		t.Errorf("wait after a day = %v", w)
	}
	th.fail(later, "a", "")
	if th.entries[accountKey("a")].n != 1 {
		t.Errorf("count after a day = %d", th.entries[accountKey("a")].n)
	}

	// The map stays bounded.
	small := newThrottle(ThrottleConfig{AccountFailures: 5, AddressFailures: 50, MaxDelay: time.Minute})
	for i := 0; i < throttleMaxEntries+10; i++ {
		small.fail(now, fmt.Sprint(i), "")
	}
	if len(small.entries) > throttleMaxEntries {
		t.Errorf("entries = %d", len(small.entries))
	}
}
