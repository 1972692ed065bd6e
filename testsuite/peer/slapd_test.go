package peer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ldapsearch runs ldapsearch with the test's CA and returns its output and error.
func slapdSearch(s *Slapd, url, bindDN, password string, args ...string) (string, error) {
	base := []string{"-x", "-LLL", "-o", "nettimeout=3", "-H", url}
	if bindDN != "" {
		base = append(base, "-D", bindDN, "-w", password)
	}
	cmd := exec.Command("ldapsearch", append(base, args...)...)
	cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+s.CAFile, "LDAPTLS_REQCERT=demand")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSlapd(t *testing.T) {
	s := StartSlapd(t, SlapdOptions{})
	jd := s.User(t, "jdupont")

	t.Run("service account reads users with memberOf but no password", func(t *testing.T) {
		out, err := slapdSearch(s, s.URL, s.ServiceDN, s.ServicePassword, "-b", s.BaseDN,
			"(uid=jdupont)", "*", "memberOf", "entryUUID", "userPassword")
		if err != nil {
			t.Fatalf("search: %v\n%s", err, out)
		}
		for _, want := range []string{
			"memberOf: cn=magistrats," + s.GroupsDN, "memberOf: cn=tj-paris," + s.GroupsDN,
			"departmentNumber: TJ-PARIS", "departmentNumber: CA-PARIS", "entryUUID: " + jd.EntryUUID,
			"employeeType: magistrat",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("missing %q in\n%s", want, out)
			}
		}
		if strings.Contains(out, "userPassword") {
			t.Errorf("service account reads userPassword:\n%s", out)
		}
	})

	t.Run("memberOf works in filters", func(t *testing.T) {
		out, err := slapdSearch(s, s.URL, s.ServiceDN, s.ServicePassword, "-b", s.BaseDN,
			"(memberOf=cn=magistrats,"+s.GroupsDN+")", "uid")
		if err != nil {
			t.Fatalf("search: %v\n%s", err, out)
		}
		if !strings.Contains(out, "uid: jdupont") || !strings.Contains(out, "uid: rbernard") || strings.Contains(out, "pmartin") {
			t.Errorf("memberOf filter:\n%s", out)
		}
	})

	t.Run("disabled marker", func(t *testing.T) {
		out, err := slapdSearch(s, s.URL, s.ServiceDN, s.ServicePassword, "-b", s.BaseDN, SlapdDisabledFilter, "uid")
		if err != nil {
			t.Fatalf("search: %v\n%s", err, out)
		}
		if strings.TrimSpace(out) != "dn: "+s.UserDN("rbernard")+"\nuid: rbernard" {
			t.Errorf("disabled users:\n%s", out)
		}
	})

	t.Run("anonymous reads nothing under the base", func(t *testing.T) {
		out, err := slapdSearch(s, s.URL, "", "", "-b", s.BaseDN, "(uid=*)", "uid")
		if err == nil && strings.Contains(out, "uid:") {
			t.Errorf("anonymous search found entries:\n%s", out)
		}
	})

	t.Run("user bind over ldaps and StartTLS, wrong password refused", func(t *testing.T) {
		if out, err := slapdSearch(s, s.LDAPSURL, s.UserDN("jdupont"), jd.Password, "-b", s.UserDN("jdupont"), "-s", "base", "uid"); err != nil {
			t.Fatalf("ldaps bind: %v\n%s", err, out)
		}
		if out, err := slapdSearch(s, s.URL, s.UserDN("jdupont"), jd.Password, "-ZZ", "-b", s.UserDN("jdupont"), "-s", "base", "uid"); err != nil {
			t.Fatalf("StartTLS bind: %v\n%s", err, out)
		}
		if out, err := slapdSearch(s, s.URL, s.UserDN("jdupont"), "wrong", "-b", s.BaseDN); err == nil || !strings.Contains(out, "Invalid credentials") {
			t.Fatalf("wrong password: %v\n%s", err, out)
		}
	})

	t.Run("ldaps certificate chains to the CA", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(s.CAPEM)
		c, err := tls.Dial("tcp", strings.TrimPrefix(s.LDAPSURL, "ldaps://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("tls: %v", err)
		}
		c.Close()
		other := NewCA(t, "other")
		if c, err := tls.Dial("tcp", strings.TrimPrefix(s.LDAPSURL, "ldaps://"), &tls.Config{RootCAs: other.Pool(), ServerName: "127.0.0.1"}); err == nil {
			c.Close()
			t.Fatal("a foreign CA verified the server certificate")
		}
	})

	t.Run("modify disables a user", func(t *testing.T) {
		s.Modify(t, "dn: "+s.UserDN("pmartin")+"\nchangetype: modify\nreplace: nsAccountLock\nnsAccountLock: TRUE\n")
		out, _ := slapdSearch(s, s.URL, s.ServiceDN, s.ServicePassword, "-b", s.BaseDN, SlapdDisabledFilter, "uid")
		if !strings.Contains(out, "uid: pmartin") {
			t.Errorf("pmartin not disabled:\n%s", out)
		}
	})

	t.Run("pause and resume", func(t *testing.T) {
		s.Pause(t)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		err := s.rootDSEReady(ctx)
		cancel()
		if err == nil {
			t.Fatal("a paused slapd answered")
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("paused search took %v", time.Since(start))
		}
		s.Resume(t)
		// A wait for a slow machine, not a bound on slapd: a slapd that never
		// answers again still fails.
		ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.rootDSEReady(ctx); err != nil {
			t.Fatalf("after resume: %v", err)
		}
	})

	t.Run("stop and start keep the data", func(t *testing.T) {
		before := s.Operations()
		s.Stop()
		if _, err := slapdSearch(s, s.URL, "", "", "-s", "base", "-b", ""); err == nil {
			t.Fatal("a stopped slapd answered")
		}
		s.Start(t)
		out, err := slapdSearch(s, s.URL, s.ServiceDN, s.ServicePassword, "-b", s.BaseDN, "(uid=pmartin)", "nsAccountLock")
		if err != nil || !strings.Contains(out, "nsAccountLock: TRUE") {
			t.Fatalf("after restart: %v\n%s", err, out)
		}
		if s.Operations() <= before {
			t.Errorf("operations count did not grow across restart: %d -> %d", before, s.Operations())
		}
	})
}

func TestCA(t *testing.T) {
	ca := NewCA(t, "root")
	inter := ca.IssueCA(t, "intermediate")
	_, _, leaf, _ := inter.Issue(t, WithCommonName("agent"), WithClientAuth(), WithRSA(2048))
	roots := ca.Pool()
	inters := x509.NewCertPool()
	inters.AddCert(inter.Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("verify chain: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatal("verified without the intermediate")
	}
	_, _, other, _ := inter.Issue(t, WithServerAuth())
	if other.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatal("two certificates with one serial")
	}
	crl, err := x509.ParseRevocationList(inter.CRL(t, leaf))
	if err != nil {
		t.Fatalf("parse CRL: %v", err)
	}
	if err := crl.CheckSignatureFrom(inter.Cert); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("CRL entries: %+v", crl.RevokedCertificateEntries)
	}
	if crl2, _ := x509.ParseRevocationList(inter.CRL(t)); crl2.Number.Cmp(crl.Number) <= 0 {
		t.Fatalf("CRL number did not grow: %v then %v", crl.Number, crl2.Number)
	}
}
