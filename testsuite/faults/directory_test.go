package faults

import (
	"html"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// goroutines counts goroutines once the broker's and the test's idle connections
// are gone, waiting up to wait for the count to settle at or below max.
func goroutines(s *stack, max int, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for {
		s.closeIdle()
		n := runtime.NumGoroutine()
		if n <= max || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDirectoryHangs: slapd stops answering (SIGSTOP) during a wave of password
// logins. Every login ends within twice the provider timeout (2s: waiting for a
// pool slot, then connecting) on the French 503 page,
// no goroutine piles up, the chooser marks the directory unavailable, /readyz stays
// ready (it reflects the store; one upstream down must not take every node out of
// the load balancer), and logins work again after SIGCONT without a restart.
func TestDirectoryHangs(t *testing.T) {
	const timeout = 2 * time.Second
	const wave = 8
	s := startStack(t, stackOptions{ldap: true, saml: true})
	uid := "pmartin"
	password := s.slapd.User(t, uid).Password

	// Warm up: pooled connections, templates, keys.
	s.loginLDAP(t, uid)
	s.loginLDAP(t, uid)
	before := goroutines(s, 0, 0)

	// The wave's password forms are fetched while the directory answers.
	type pending struct {
		f    *flow
		form *page
		fm   form
	}
	var ps []pending
	for range wave {
		f := s.newFlow()
		pf, fm := f.passwordForm(t)
		ps = append(ps, pending{f, pf, fm})
	}

	pausedAt := time.Now()
	s.slapd.Pause(t)
	paused := true
	t.Cleanup(func() {
		if paused {
			s.slapd.Resume(t)
		}
	})

	results := make([]*page, wave)
	errs := make([]error, wave)
	var wg sync.WaitGroup
	start := time.Now()
	for i, p := range ps {
		wg.Go(func() { results[i], errs[i] = p.f.submitPassword(p.form, p.fm, uid, password) })
	}
	wg.Wait()
	t.Logf("wave of %d logins against a paused directory: all answered after %v", wave, time.Since(start))
	for i, p := range results {
		if errs[i] != nil {
			t.Fatalf("login %d: %v", i, errs[i])
		}
		t.Logf("login %d: %d in %v", i, p.Status, p.Elapsed)
		if p.Status != http.StatusServiceUnavailable || !strings.Contains(p.Body, unavailable) {
			t.Errorf("login %d: want 503 with %q, got %d: %.1500s", i, unavailable, p.Status, p.Body)
		}
		if !strings.Contains(p.Body, `lang="fr"`) || correlationID(p) == "" {
			t.Errorf("login %d: not a French page with a reference: %.1500s", i, p.Body)
		}
		// The provider timeout bounds each directory operation (ldap.Config.Timeout):
		// the first pool-size logins fail when their connection attempt times out
		// (one timeout); the others first wait for a pool slot (up to one timeout),
		// then connect (another): observed 2.0s and 4.2s. Allow scheduling slack
		// for eight concurrent requests on a loaded machine, short of a third
		// timeout: a login that waited three times cannot pass.
		if p.Elapsed >= 3*timeout {
			t.Errorf("login %d took %v, want at most twice the provider timeout %v (plus slack, under three)", i, p.Elapsed, timeout)
		}
		if p.Elapsed < timeout-100*time.Millisecond {
			t.Errorf("login %d failed after %v, before the provider timeout %v: not a timeout?", i, p.Elapsed, timeout)
		}
	}

	var refused int
	for _, e := range s.audit(t, pausedAt) {
		if e.Type == "login" && e.Outcome == "failure" && e.Provider == "annuaire" && e.Details["reason"] == "login.unavailable" {
			refused++
		}
	}
	if refused != wave {
		t.Errorf("audit: %d failed logins with reason login.unavailable, want %d", refused, wave)
	}

	// The chooser checks the directory (within its own 2s check timeout) and marks it.
	f := s.newFlow()
	chooser := f.start(t, nil)
	t.Logf("chooser while the directory hangs: %d in %v", chooser.Status, chooser.Elapsed)
	if chooser.Status != http.StatusOK || chooser.URL.Path != chooserPath {
		t.Fatalf("want the chooser, got %d at %s: %.1500s", chooser.Status, chooser.URL, chooser.Body)
	}
	if chooserForm(chooser, "annuaire") != nil {
		t.Errorf("the hung directory can still be chosen")
	}
	if !strings.Contains(chooser.Body, html.EscapeString(labelAnnuaire)) || !strings.Contains(chooser.Body, unavailable) {
		t.Errorf("chooser does not mark %q %q: %.3000s", labelAnnuaire, unavailable, chooser.Body)
	}
	if chooserForm(chooser, "barreau") == nil {
		t.Errorf("chooser lost barreau while the directory hangs")
	}
	if got := s.readyz(t); got != http.StatusOK {
		t.Errorf("/readyz = %d while only the directory hangs, want 200 (it reflects the store)", got)
	}

	// No pile-up: the wave's goroutines are gone while the directory still hangs.
	// A goroutine left per login of the wave would add at least wave.
	const slack = wave - 1
	during := goroutines(s, before+slack, 3*time.Second)
	t.Logf("goroutines: %d before the wave, %d after it (directory still paused)", before, during)
	if during > before+slack {
		t.Errorf("goroutines: %d before the wave, %d after it: they pile up", before, during)
		buf := make([]byte, 1<<20)
		t.Logf("%s", buf[:runtime.Stack(buf, true)])
	}

	s.slapd.Resume(t)
	paused = false
	resumed := time.Now()
	var ok bool
	for time.Since(resumed) < 10*time.Second {
		f := s.newFlow()
		chooser := f.start(t, nil)
		if chooserForm(chooser, "annuaire") == nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		pf, fm := f.passwordForm(t)
		done, err := f.submitPassword(pf, fm, uid, password)
		if err != nil {
			t.Fatal(err)
		}
		if done.Location == nil {
			t.Logf("login after resume: %d", done.Status)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		f.redeem(t, done)
		ok = true
		break
	}
	if !ok {
		t.Fatalf("logins did not work again within 10s of the directory resuming")
	}
	t.Logf("directory resumed: first successful login after %v", time.Since(resumed))
	after := goroutines(s, before+slack, 3*time.Second)
	t.Logf("goroutines after recovery: %d", after)
	if after > before+slack {
		t.Errorf("goroutines: %d before, %d after recovery", before, after)
	}
}
