package ldap

import (
	"strings"
	"sync"
	"time"
)

const (
	// throttleForget is how long a count of failures is kept after the last one.
	throttleForget = 24 * time.Hour
	// throttleMaxEntries bounds the memory an attacker can make the throttle use by
	// trying random usernames from random addresses.
	throttleMaxEntries = 100_000
)

// throttle counts recent login failures per account and per client address and
// refuses logins for an exponentially growing, capped delay (SECURITY.md D10). It is
// in memory: each broker node counts on its own, which only makes an attacker's
// budget a small multiple of one node's.
type throttle struct {
	accountFree int
	addressFree int
	maxDelay    time.Duration

	mu      sync.Mutex
	entries map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

func newThrottle(c ThrottleConfig) *throttle {
	return &throttle{
		accountFree: c.AccountFailures,
		addressFree: c.AddressFailures,
		maxDelay:    c.MaxDelay,
		entries:     map[string]*failures{},
	}
}

// accountKey folds case and spaces like the caseIgnoreMatch of uid does (RFC 4517
// §4.2.11), so that "JDupont " and "jdupont" share one count.
func accountKey(username string) string {
	return "u\x00" + strings.ToLower(strings.Join(strings.Fields(username), " "))
}

func addressKey(addr string) string { return "a\x00" + addr }

// delay is how long logins are refused after n consecutive failures: nothing up to
// free, then 1s, 2s, 4s... capped at maxDelay.
func (th *throttle) delay(n, free int) time.Duration {
	if n < free {
		return 0
	}
	shift := n - free
	if shift > 30 {
		return th.maxDelay
	}
	d := time.Second << shift
	if d > th.maxDelay {
		d = th.maxDelay
	}
	return d
}

// wait returns how long the account or address must still wait (0: go ahead).
func (th *throttle) wait(now time.Time, username, addr string) time.Duration {
	th.mu.Lock()
	defer th.mu.Unlock()
	var longest time.Duration
	check := func(key string, free int) {
		f, ok := th.entries[key]
		if !ok {
			return
		}
		if now.Sub(f.last) >= throttleForget {
			delete(th.entries, key)
			return
		}
		if w := f.last.Add(th.delay(f.n, free)).Sub(now); w > longest {
			longest = w
		}
	}
	check(accountKey(username), th.accountFree)
	if addr != "" {
		check(addressKey(addr), th.addressFree)
	}
	return longest
}

// fail records a failure for the account and the address.
func (th *throttle) fail(now time.Time, username, addr string) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.bump(now, accountKey(username))
	if addr != "" {
		th.bump(now, addressKey(addr))
	}
}

func (th *throttle) bump(now time.Time, key string) {
	f, ok := th.entries[key]
	if !ok {
		if len(th.entries) >= throttleMaxEntries {
			th.prune(now)
		}
		f = &failures{}
		th.entries[key] = f
	} else if now.Sub(f.last) >= throttleForget {
		f.n = 0
	}
	f.n++
	f.last = now
}

// prune drops forgotten counts, then, if the map is still full, the counts that do
// not delay anyone right now.
func (th *throttle) prune(now time.Time) {
	for k, f := range th.entries {
		if now.Sub(f.last) >= throttleForget {
			delete(th.entries, k)
		}
	}
	if len(th.entries) < throttleMaxEntries {
		return
	}
	for k, f := range th.entries {
		free := th.accountFree
		if strings.HasPrefix(k, "a\x00") {
			free = th.addressFree
		}
		if !f.last.Add(th.delay(f.n, free)).After(now) {
			delete(th.entries, k)
		}
	}
}

// succeed forgets the account's failures. The address keeps its count: an attacker
// must not reset it by logging into an account of their own between guesses.
func (th *throttle) succeed(username string) {
	th.mu.Lock()
	defer th.mu.Unlock()
	delete(th.entries, accountKey(username))
}
