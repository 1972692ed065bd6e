package ldap

import (
	"context"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// BenchmarkLogin measures password logins (search, user bind, disabled_filter
// check) against a real slapd over ldaps://, from parallel goroutines, and reports
// logins per second.
func BenchmarkLogin(b *testing.B) {
	s := peer.StartSlapd(b, peer.SlapdOptions{})
	p := newProvider(b, s, func(c *Config) { c.Timeout = 10 * time.Second })
	jd := s.User(b, "jdupont")
	mustLogin(b, p.Provider, "jdupont", jd.Password) // open the first connections
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := p.Login(ctx, "jdupont", jd.Password)
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}
