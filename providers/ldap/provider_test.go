package ldap

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/providers"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// TestLogin runs the read-only cases against one directory.
func TestLogin(t *testing.T) {
	s := peer.StartSlapd(t, peer.SlapdOptions{})
	p := newProvider(t, s, nil)
	jd := s.User(t, "jdupont")
	rb := s.User(t, "rbernard")
	ctx := ctxTimeout(t, time.Minute)

	t.Run("identity", func(t *testing.T) {
		id := mustLogin(t, p.Provider, "jdupont", jd.Password)
		if id.Subject != jd.EntryUUID {
			t.Errorf("Subject = %q, want entryUUID %q", id.Subject, jd.EntryUUID)
		}
		if id.Username != "jdupont" {
			t.Errorf("Username = %q", id.Username)
		}
		want := map[string][]string{
			"uid":              {"jdupont"},
			"cn":               {"Jeanne Dupont"},
			"sn":               {"Dupont"},
			"givenName":        {"Jeanne"},
			"mail":             {"jeanne.dupont@justice.gouv.fr"},
			"employeeNumber":   {"M0001"},
			"employeeType":     {"magistrat"},
			"departmentNumber": {"CA-PARIS", "TJ-PARIS"},
			"memberOf":         {"cn=magistrats," + s.GroupsDN, "cn=tj-paris," + s.GroupsDN},
			"entryUUID":        {jd.EntryUUID},
		}
		got := map[string][]string{}
		for k, v := range id.Attributes {
			v = append([]string(nil), v...)
			sort.Strings(v)
			got[k] = v
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Attributes =\n%v\nwant\n%v", got, want)
		}
		if !id.Authn.Time.Equal(fixedTime) || !reflect.DeepEqual(id.Authn.Methods, []string{"pwd"}) {
			t.Errorf("Authn = %+v", id.Authn)
		}
		if id.Provider != "" || id.Upstream != nil {
			t.Errorf("Provider/Upstream set: %+v", id)
		}
	})

	t.Run("username matching ignores case, identity keeps the directory's", func(t *testing.T) {
		id := mustLogin(t, p.Provider, "JDupont", jd.Password)
		if id.Username != "jdupont" || id.Subject != jd.EntryUUID {
			t.Errorf("identity = %+v", id)
		}
	})

	t.Run("wrong password and unknown user are the same error", func(t *testing.T) {
		_, errWrong := p.Login(ctx, "jdupont", "not-the-password")
		wantErr(t, "wrong password", errWrong, providers.ErrBadCredentials)
		_, errUnknown := p.Login(ctx, "nobody", "not-the-password")
		wantErr(t, "unknown user", errUnknown, providers.ErrBadCredentials)
		if errWrong.Error() != errUnknown.Error() {
			t.Errorf("errors differ: %q vs %q", errWrong, errUnknown)
		}
		_, err := p.Login(ctx, "jdupont", jd.Password+" ")
		wantErr(t, "password with a trailing space", err, providers.ErrBadCredentials)
	})

	t.Run("unknown user costs the same directory operations as a wrong password (D11)", func(t *testing.T) {
		mustLogin(t, p.Provider, "pmartin", s.User(t, "pmartin").Password) // warm both pools
		before := quietOperations(s)
		_, err := p.Login(ctx, "pmartin", "wrong-password")
		wantErr(t, "wrong password", err, providers.ErrBadCredentials)
		mid := quietOperations(s)
		_, err = p.Login(ctx, "no-such-agent", "wrong-password")
		wantErr(t, "unknown user", err, providers.ErrBadCredentials)
		after := quietOperations(s)
		if wrong, unknown := mid-before, after-mid; wrong != unknown || wrong < 2 {
			t.Errorf("operations: wrong password %d, unknown user %d; want equal and >= 2 (search + bind)", wrong, unknown)
		}
		if !strings.Contains(s.Log(), `BIND dn="cn=justiceconnect-no-such-user-`) {
			t.Error("no dummy bind in the directory's log")
		}

		// Timing: medians of a few rounds each; generous bound for a shared machine.
		q := newProvider(t, s, func(c *Config) { c.Throttle.AccountFailures = 100 })
		mustLogin(t, q.Provider, "jdupont", jd.Password)
		median := func(user string) time.Duration {
			var d []time.Duration
			for i := 0; i < 15; i++ {
				start := time.Now()
				_, err := q.Login(ctx, user, "wrong-password-"+fmt.Sprint(i))
				wantErr(t, user, err, providers.ErrBadCredentials)
				d = append(d, time.Since(start))
			}
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			return d[len(d)/2]
		}
		// Different usernames: the throttle must not interfere.
		wrong := median("jdupont")
		unknown := median("ghost")
		t.Logf("median wrong password %v, unknown user %v", wrong, unknown)
		if unknown < wrong/3 || unknown > wrong*3 {
			t.Errorf("timing differs too much: wrong password %v, unknown user %v", wrong, unknown)
		}
	})

	t.Run("empty credentials are refused without directory traffic", func(t *testing.T) {
		before := quietOperations(s)
		for _, c := range []struct{ user, pass string }{
			{"", jd.Password}, {"jdupont", ""}, {"", ""}, {strings.Repeat("a", 300), "x"},
		} {
			_, err := p.Login(ctx, c.user, c.pass)
			wantErr(t, fmt.Sprintf("login(%q, %q)", c.user, c.pass), err, providers.ErrBadCredentials)
		}
		if after := quietOperations(s); after != before {
			t.Errorf("empty credentials reached the directory: %d operations", after-before)
		}
	})

	t.Run("filter injection is matched literally (H1)", func(t *testing.T) {
		// With jdupont's password: an unescaped wildcard would select jdupont's entry
		// and the bind would succeed.
		for _, u := range []string{
			"*", "j*", "jdupont*", "*dupont", "admin*", "*)(uid=*))(|(uid=*", "jdupont)(|(uid=*",
			`\00`, "\x00", "jdupont\x00", "(", ")", `\2a`, "*)(objectClass=*", `\`, "jdupon?",
			" ", "\t", "\xff\xfe", "jdupont\xff", "é", "jdupont\n", "~", ">=", "jdupont)", "(uid=jdupont)",
		} {
			_, err := p.Login(ctx, u, jd.Password)
			wantErr(t, fmt.Sprintf("username %q", u), err, providers.ErrBadCredentials)
		}
		if !strings.Contains(s.Log(), `filter="(&(objectClass=inetOrgPerson)(uid=\2A))"`) {
			t.Errorf("the directory did not receive the escaped filter for *")
		}
	})

	t.Run("DN-like usernames find nothing (H2)", func(t *testing.T) {
		for _, u := range []string{
			s.UserDN("jdupont"), "jdupont," + s.PeopleDN, "uid=jdupont", s.ServiceDN, "jdupont+cn=x",
		} {
			_, err := p.Login(ctx, u, jd.Password)
			wantErr(t, fmt.Sprintf("username %q", u), err, providers.ErrBadCredentials)
		}
		_, err := p.Login(ctx, s.ServiceDN, s.ServicePassword)
		wantErr(t, "service account DN", err, providers.ErrBadCredentials)
	})

	t.Run("disabled account is told only with the right password", func(t *testing.T) {
		_, err := p.Login(ctx, "rbernard", rb.Password)
		wantErr(t, "right password", err, providers.ErrAccountDisabled)
		_, err = p.Login(ctx, "rbernard", "wrong")
		wantErr(t, "wrong password", err, providers.ErrBadCredentials)
	})

	t.Run("a disabled_filter the directory cannot evaluate fails closed", func(t *testing.T) {
		q := newProvider(t, s, func(c *Config) { c.DisabledFilter = "(noSuchAttributeType=TRUE)" })
		_, err := q.Login(ctx, "jdupont", jd.Password)
		wantErr(t, "login", err, providers.ErrAccountDisabled)
		_, err = q.Lookup(ctx, "certificate_serial", "M0001")
		wantErr(t, "lookup", err, providers.ErrAccountDisabled)
	})

	t.Run("without disabled_filter nobody is disabled", func(t *testing.T) {
		q := newProvider(t, s, func(c *Config) { c.DisabledFilter = "" })
		mustLogin(t, q.Provider, "rbernard", rb.Password)
	})

	t.Run("two courts are two values", func(t *testing.T) {
		id := mustLogin(t, p.Provider, "jdupont", jd.Password)
		if got := id.Attributes["departmentNumber"]; len(got) != 2 {
			t.Errorf("departmentNumber = %v", got)
		}
	})

	t.Run("lookup", func(t *testing.T) {
		id, err := p.Lookup(ctx, "certificate_serial", "M0001")
		wantErr(t, "lookup M0001", err, nil)
		if id.Subject != jd.EntryUUID || id.Username != "jdupont" || id.Attribute("mail") != "jeanne.dupont@justice.gouv.fr" {
			t.Errorf("identity = %+v", id)
		}
		for _, v := range []string{"M9999", "*", "M*", ""} {
			_, err = p.Lookup(ctx, "certificate_serial", v)
			wantErr(t, "lookup "+v, err, providers.ErrUnknownUser)
		}
		_, err = p.Lookup(ctx, "certificate_serial", "M0003")
		wantErr(t, "disabled", err, providers.ErrAccountDisabled)
		_, err = p.Lookup(ctx, "mail", "PAUL.MARTIN@justice.gouv.fr")
		wantErr(t, "mail", err, nil)
		_, err = p.Lookup(ctx, "no_such_key", "x")
		if err == nil || !strings.Contains(err.Error(), "no_such_key") {
			t.Errorf("unknown key: %v", err)
		}
	})

	t.Run("check", func(t *testing.T) {
		wantErr(t, "check", p.Check(ctx), nil)
		bad := newProvider(t, s, func(c *Config) { c.BaseDN = "ou=missing," + s.BaseDN })
		wantErr(t, "check missing base", bad.Check(ctx), providers.ErrUnavailable)
		_, err := bad.Login(ctx, "jdupont", jd.Password)
		wantErr(t, "login under a missing base", err, providers.ErrUnavailable)
	})

	t.Run("wrong service password is unavailable, not bad credentials", func(t *testing.T) {
		f := peer.WriteFile(t, t.TempDir(), "pw", "wrong-service-password\n")
		q := newProvider(t, s, func(c *Config) { c.BindPasswordFile = f })
		_, err := q.Login(ctx, "jdupont", jd.Password)
		wantErr(t, "login", err, providers.ErrUnavailable)
		wantErr(t, "check", q.Check(ctx), providers.ErrUnavailable)
	})

	t.Run("service password from the environment", func(t *testing.T) {
		t.Setenv("JC_TEST_LDAP_PASSWORD", s.ServicePassword)
		q := newProvider(t, s, func(c *Config) { c.BindPasswordFile, c.BindPasswordEnv = "", "JC_TEST_LDAP_PASSWORD" })
		mustLogin(t, q.Provider, "jdupont", jd.Password)
	})

	t.Run("StartTLS", func(t *testing.T) {
		q := newProvider(t, s, func(c *Config) { c.URLs, c.StartTLS = []string{s.URL}, true })
		mustLogin(t, q.Provider, "jdupont", jd.Password)
		wantErr(t, "check", q.Check(ctx), nil)
		if !strings.Contains(s.Log(), "EXT oid=1.3.6.1.4.1.1466.20037") {
			t.Error("no StartTLS extended operation in the directory's log")
		}
	})

	t.Run("StartTLS with a foreign CA is refused", func(t *testing.T) {
		other := peer.NewCA(t, "other")
		caFile := other.WriteCert(t, t.TempDir(), "other.crt")
		q := newProvider(t, s, func(c *Config) { c.URLs, c.StartTLS, c.CAFile = []string{s.URL}, true, caFile })
		_, err := q.Login(ctx, "jdupont", jd.Password)
		wantErr(t, "login", err, providers.ErrUnavailable)
	})

	t.Run("ldaps with a foreign CA is refused", func(t *testing.T) {
		other := peer.NewCA(t, "other")
		caFile := other.WriteCert(t, t.TempDir(), "other.crt")
		q := newProvider(t, s, func(c *Config) { c.CAFile = caFile })
		_, err := q.Login(ctx, "jdupont", jd.Password)
		wantErr(t, "login", err, providers.ErrUnavailable)
		if !strings.Contains(q.logs.String(), "certificate") {
			t.Errorf("the log does not name the certificate problem:\n%s", q.logs)
		}
		wantErr(t, "check", q.Check(ctx), providers.ErrUnavailable)
	})

	t.Run("ldaps with the system roots is refused", func(t *testing.T) {
		q := newProvider(t, s, func(c *Config) { c.CAFile = "" })
		_, err := q.Login(ctx, "jdupont", jd.Password)
		wantErr(t, "login", err, providers.ErrUnavailable)
	})

	t.Run("insecure_skip_verify accepts any certificate and says so", func(t *testing.T) {
		q := newProvider(t, s, func(c *Config) { c.CAFile, c.InsecureSkipVerify = "", true })
		mustLogin(t, q.Provider, "jdupont", jd.Password)
		if !strings.Contains(q.logs.String(), "insecure_skip_verify") {
			t.Error("no warning for insecure_skip_verify")
		}
	})

	t.Run("plaintext is refused unless insecure_plaintext", func(t *testing.T) {
		cfg := baseConfig(s)
		cfg.URLs = []string{s.URL}
		_, err := New(cfg, Options{})
		if err == nil || !strings.Contains(err.Error(), "insecure_plaintext") {
			t.Fatalf("New with ldap:// and no start_tls: %v", err)
		}
		q := newProvider(t, s, func(c *Config) { c.URLs, c.InsecurePlaintext = []string{s.URL}, true })
		mustLogin(t, q.Provider, "jdupont", jd.Password)
		if !strings.Contains(q.logs.String(), "insecure_plaintext") {
			t.Error("no warning for insecure_plaintext")
		}
	})

	t.Run("logs never contain passwords", func(t *testing.T) {
		for _, l := range []*syncBuffer{p.logs} {
			for _, u := range s.Users {
				if strings.Contains(l.String(), u.Password) {
					t.Errorf("log contains %s's password", u.UID)
				}
			}
			if strings.Contains(l.String(), s.ServicePassword) || strings.Contains(l.String(), "not-the-password") {
				t.Error("log contains a password")
			}
		}
	})
}

// TestLoginConcurrent hammers one provider from many goroutines (run with -race).
func TestLoginConcurrent(t *testing.T) {
	s := peer.StartSlapd(t, peer.SlapdOptions{})
	p := newProvider(t, s, func(c *Config) { c.PoolSize = 2 })
	jd := s.User(t, "jdupont")
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		go func(g int) {
			for i := 0; i < 8; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				var err error
				if (g+i)%2 == 0 {
					_, err = p.Login(ctx, "jdupont", jd.Password)
				} else if _, e := p.Login(ctx, fmt.Sprintf("nobody%d", g), "x"); !isBad(e) {
					err = fmt.Errorf("unknown user: %v", e)
				}
				cancel()
				errs <- err
			}
		}(g)
	}
	for i := 0; i < 64; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func isBad(err error) bool {
	return err != nil && strings.Contains(err.Error(), providers.ErrBadCredentials.Error())
}
