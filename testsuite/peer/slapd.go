package peer

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SlapdBaseDN is the suffix of the throwaway directory.
const SlapdBaseDN = "dc=justice,dc=gouv,dc=fr"

// SlapdDisabledFilter is the LDAP filter (RFC 4515) that matches a disabled account
// in the throwaway directory. Disabled accounts carry nsAccountLock: TRUE, the
// marker 389-DS and FreeIPA use, declared here by a two-line test schema (see
// slapdTestSchema). Unlike ppolicy's pwdAccountLockedTime it does not make slapd
// itself refuse the bind, so the provider (and only it) decides, after checking the
// password, that the account is disabled.
const SlapdDisabledFilter = "(nsAccountLock=TRUE)"

// LDAPUser is one person of the throwaway directory, stored as
// uid=UID,ou=people,dc=justice,dc=gouv,dc=fr (objectClass inetOrgPerson).
type LDAPUser struct {
	UID      string
	Password string
	// CN, SN, GivenName and Mail default from UID.
	CN, SN, GivenName, Mail string
	EmployeeNumber          string
	// EmployeeType is the profession (magistrat, greffier, ...).
	EmployeeType string
	// Courts are stored as departmentNumber values (multi-valued).
	Courts []string
	// Groups are the cn of groupOfNames entries under ou=groups the user is a member
	// of; memberOf is computed by slapo-dynlist.
	Groups []string
	// Disabled sets nsAccountLock: TRUE (SlapdDisabledFilter).
	Disabled bool
	// EntryUUID is written at load time so that tests know each subject; a random
	// UUID when empty.
	EntryUUID string
	// Extra attributes, written as given.
	Extra map[string][]string
}

// DefaultLDAPUsers are three agents: a judge in two courts, a clerk, and a disabled
// judge.
func DefaultLDAPUsers() []LDAPUser {
	return []LDAPUser{
		{UID: "jdupont", Password: "Motdepasse-magistrat-1", GivenName: "Jeanne", SN: "Dupont",
			Mail: "jeanne.dupont@justice.gouv.fr", EmployeeNumber: "M0001", EmployeeType: "magistrat",
			Courts: []string{"TJ-PARIS", "CA-PARIS"}, Groups: []string{"magistrats", "tj-paris"}},
		{UID: "pmartin", Password: "Motdepasse-greffier-2", GivenName: "Paul", SN: "Martin",
			Mail: "paul.martin@justice.gouv.fr", EmployeeNumber: "G0002", EmployeeType: "greffier",
			Courts: []string{"TJ-LYON"}, Groups: []string{"greffiers"}},
		{UID: "rbernard", Password: "Motdepasse-desactive-3", GivenName: "Rose", SN: "Bernard",
			Mail: "rose.bernard@justice.gouv.fr", EmployeeNumber: "M0003", EmployeeType: "magistrat",
			Courts: []string{"TJ-LILLE"}, Groups: []string{"magistrats"}, Disabled: true},
	}
}

// SlapdOptions shape a throwaway OpenLDAP directory.
type SlapdOptions struct {
	// Users defaults to DefaultLDAPUsers().
	Users []LDAPUser
	// ServicePassword is the read-only service account's password (random if empty).
	ServicePassword string
	// ExtraLDIF is appended to the generated data (entries under SlapdBaseDN).
	ExtraLDIF string
	// CA issues the server certificate; a new one when nil (share one between two
	// directories to test failover over TLS).
	CA *CA
}

// Slapd is a running throwaway OpenLDAP 2.5 directory on 127.0.0.1: ldap:// (with
// StartTLS) and ldaps://, a mdb database under SlapdBaseDN, slapo-dynlist for
// memberOf, a root DN for tests and a read-only service account for the broker.
type Slapd struct {
	// URL is ldap://127.0.0.1:P (StartTLS available); LDAPSURL is ldaps://127.0.0.1:PS.
	URL, LDAPSURL string
	// CA issued the server certificate (IP SAN 127.0.0.1, DNS localhost); CAFile is
	// its certificate on disk and CAPEM its PEM.
	CA     *CA
	CAFile string
	CAPEM  []byte
	// BaseDN is SlapdBaseDN; PeopleDN and GroupsDN hold users and groups.
	BaseDN, PeopleDN, GroupsDN string
	// ServiceDN and ServicePassword are the broker's read-only account (reads all
	// but userPassword); ServicePasswordFile holds the password.
	ServiceDN, ServicePassword, ServicePasswordFile string
	// RootDN and RootPassword manage the database (Modify).
	RootDN, RootPassword string
	// Users are the loaded users, EntryUUID filled in.
	Users []LDAPUser

	dir       string
	port      int
	tlsPort   int
	slapd     string
	mu        sync.Mutex
	proc      *Process
	paused    bool
	prevLogs  []string
	modifyBin string
}

// StartSlapd builds and starts a throwaway directory (about a second), following
// shared/PEERS.md: cn=config built offline with slapadd -n0, data loaded with
// slapadd -q -n1, slapd in the foreground with -d stats. It fails the test when
// OpenLDAP is not installed.
func StartSlapd(t testing.TB, opts SlapdOptions) *Slapd {
	t.Helper()
	slapd := RequireBinary(t, "/usr/sbin/slapd", "slapd")
	slapadd := RequireBinary(t, "/usr/sbin/slapadd", "slapd")
	RequireBinary(t, "ldapsearch", "ldap-utils")
	modify := RequireBinary(t, "ldapmodify", "ldap-utils")

	if opts.Users == nil {
		opts.Users = DefaultLDAPUsers()
	}
	if opts.ServicePassword == "" {
		opts.ServicePassword = "svc-" + randomHex(t, 12)
	}
	ca := opts.CA
	if ca == nil {
		ca = NewCA(t, "JusticeConnect test directory CA")
	}
	dir := t.TempDir()
	s := &Slapd{
		CA:              ca,
		CAPEM:           ca.CertPEM,
		BaseDN:          SlapdBaseDN,
		PeopleDN:        "ou=people," + SlapdBaseDN,
		GroupsDN:        "ou=groups," + SlapdBaseDN,
		ServiceDN:       "cn=justiceconnect,ou=services," + SlapdBaseDN,
		ServicePassword: opts.ServicePassword,
		RootDN:          "cn=admin," + SlapdBaseDN,
		RootPassword:    "root-" + randomHex(t, 12),
		dir:             dir,
		port:            FreePort(t),
		tlsPort:         FreePort(t),
		slapd:           slapd,
		modifyBin:       modify,
	}
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", s.port)
	s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", s.tlsPort)
	s.CAFile = ca.WriteCert(t, dir, "ca.crt")
	certPEM, keyPEM, _, _ := ca.Issue(t, WithCommonName("127.0.0.1"), WithServerAuth())
	certFile, keyFile := WritePair(t, dir, "server", certPEM, keyPEM)
	s.ServicePasswordFile = WriteFile(t, dir, "service.password", s.ServicePassword+"\n")

	for i := range opts.Users {
		if opts.Users[i].EntryUUID == "" {
			opts.Users[i].EntryUUID = newUUID(t)
		}
	}
	s.Users = opts.Users

	confDir := filepath.Join(dir, "slapd.d")
	dataDir := filepath.Join(dir, "data")
	for _, d := range []string{confDir, dataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatalf("peer: slapd: %v", err)
		}
	}
	configLDIF := WriteFile(t, dir, "config.ldif", s.configLDIF(certFile, keyFile, dataDir))
	Run(t, slapadd, "-n0", "-F", confDir, "-l", configLDIF)
	dataLDIF := WriteFile(t, dir, "data.ldif", s.dataLDIF(opts.Users)+opts.ExtraLDIF)
	Run(t, slapadd, "-q", "-n1", "-F", confDir, "-l", dataLDIF)

	t.Cleanup(func() {
		// Runs before Process's own cleanup (LIFO): a stopped process would ignore
		// SIGTERM and cost the 5 s grace period.
		s.mu.Lock()
		defer s.mu.Unlock()
		s.resumeLocked()
	})
	s.Start(t)
	return s
}

// Start starts slapd on the same ports with the same data (after Stop) and waits
// until an anonymous rootDSE search answers.
func (s *Slapd) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	if s.proc != nil && !s.proc.Exited() {
		s.mu.Unlock()
		t.Fatalf("peer: slapd already running")
	}
	cmd := exec.Command(s.slapd, "-h", fmt.Sprintf("ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/", s.port, s.tlsPort),
		"-F", filepath.Join(s.dir, "slapd.d"), "-d", "stats")
	s.proc = Start(t, "slapd", cmd)
	s.paused = false
	proc := s.proc
	s.mu.Unlock()
	proc.WaitReady(t, s.rootDSEReady)
}

// rootDSEReady runs an anonymous base search of the root DSE with ldapsearch.
func (s *Slapd) rootDSEReady(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "ldapsearch", "-x", "-LLL", "-H", s.URL, "-s", "base", "-b", "",
		"namingContexts").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ldapsearch: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if !strings.Contains(string(out), SlapdBaseDN) {
		return fmt.Errorf("root DSE without %s: %s", SlapdBaseDN, out)
	}
	return nil
}

// Stop stops slapd (the data stays for Start). It is idempotent.
func (s *Slapd) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.resumeLocked()
	s.proc.Stop()
	s.prevLogs = append(s.prevLogs, s.proc.Output())
}

// Pause stops slapd with SIGSTOP: connections stay open and the kernel still
// accepts new ones, but nothing answers (a hung directory).
func (s *Slapd) Pause(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.Exited() {
		t.Fatalf("peer: slapd: pause: not running")
	}
	pid := s.proc.Cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("peer: slapd: pause: %v", err)
	}
	s.paused = true
	// SIGSTOP takes effect when each thread is next scheduled: wait until every
	// thread is stopped, or a request sent right after Pause could still be served.
	deadline := time.Now().Add(5 * time.Second)
	for !allThreadsStopped(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("peer: slapd: pause: threads still running after 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// allThreadsStopped reads the state of each thread in /proc/PID/task/*/stat.
func allThreadsStopped(pid int) bool {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			return false
		}
		// The state follows the parenthesised command name: "PID (slapd) T ...".
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false
		}
	}
	return true
}

// Resume continues a paused slapd (SIGCONT).
func (s *Slapd) Resume(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resumeLocked()
}

func (s *Slapd) resumeLocked() {
	if s.paused && s.proc != nil && !s.proc.Exited() {
		_ = syscall.Kill(s.proc.Cmd.Process.Pid, syscall.SIGCONT)
	}
	s.paused = false
}

// PID is slapd's process ID (0 when not started).
func (s *Slapd) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.Cmd.Process.Pid
}

// Log returns slapd's stats log since StartSlapd, across restarts.
func (s *Slapd) Log() string { return strings.Join(s.logs(), "") }

// logs returns the log of each run of slapd.
func (s *Slapd) logs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.prevLogs...)
	if s.proc != nil && !s.proc.Exited() {
		out = append(out, s.proc.Output())
	}
	return out
}

var slapdOpRE = regexp.MustCompile(`conn=(\d+) (fd=\d+ ACCEPT|op=(\d+) )`)

// Operations counts the connections accepted and the distinct operations received
// so far according to the stats log, to prove that a code path sent nothing or to
// compare what two code paths sent.
func (s *Slapd) Operations() int {
	n := 0
	// Connection numbers restart with slapd: count each run on its own.
	for _, log := range s.logs() {
		seen := map[string]bool{}
		for _, m := range slapdOpRE.FindAllStringSubmatch(log, -1) {
			if m[3] == "" {
				n++ // ACCEPT
				continue
			}
			if k := m[1] + "/" + m[3]; !seen[k] {
				seen[k] = true
				n++
			}
		}
	}
	return n
}

// Modify applies an LDIF change (RFC 2849 changetype records) as the root DN with
// ldapmodify, e.g. to disable or delete a user during a test.
func (s *Slapd) Modify(t testing.TB, ldif string) {
	t.Helper()
	f := WriteFile(t, t.TempDir(), "change.ldif", ldif)
	Run(t, s.modifyBin, "-x", "-H", s.URL, "-D", s.RootDN, "-w", s.RootPassword, "-f", f)
}

// UserDN is the DN of the user with this uid.
func (s *Slapd) UserDN(uid string) string { return "uid=" + uid + "," + s.PeopleDN }

// User returns the loaded user with this uid, failing the test when there is none.
func (s *Slapd) User(t testing.TB, uid string) LDAPUser {
	t.Helper()
	for _, u := range s.Users {
		if u.UID == uid {
			return u
		}
	}
	t.Fatalf("peer: slapd: no user %q", uid)
	return LDAPUser{}
}

// slapdTestSchema declares nsAccountLock (the 389-DS OID and name) and an auxiliary
// class allowing it, under OpenLDAP's experimental arc 1.3.6.1.4.1.4203.666 which is
// reserved for tests.
const slapdTestSchema = `dn: cn=justiceconnect-test,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: justiceconnect-test
olcAttributeTypes: ( 2.16.840.1.113730.3.1.610 NAME 'nsAccountLock' DESC 'account inactivation (389-DS name)' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
olcObjectClasses: ( 1.3.6.1.4.1.4203.666.11.1.1 NAME 'jcTestAccount' DESC 'JusticeConnect test: account status' SUP top AUXILIARY MAY nsAccountLock )

`

func (s *Slapd) configLDIF(certFile, keyFile, dataDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: %[1]s/slapd.pid
olcArgsFile: %[1]s/slapd.args
olcTLSCACertificateFile: %[2]s
olcTLSCertificateFile: %[3]s
olcTLSCertificateKeyFile: %[4]s
olcTLSProtocolMin: 3.3

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: {0}back_mdb
olcModuleLoad: {1}dynlist

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

include: file:///etc/ldap/schema/dyngroup.ldif

%[5]sdn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: 500
olcAccess: {0}to dn.base="" by * read
olcAccess: {1}to dn.base="cn=Subschema" by * read

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: %[6]s
olcRootDN: %[7]s
olcRootPW: %[8]s
olcDbDirectory: %[9]s
olcDbMaxSize: 67108864
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: mail eq
olcDbIndex: employeeNumber eq
olcDbIndex: entryUUID eq
olcDbIndex: member eq
olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to * by dn.exact="%[10]s" read by self read by * none

dn: olcOverlay={0}dynlist,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcDynListConfig
olcOverlay: {0}dynlist
olcDynListAttrSet: {0}groupOfURLs memberURL member+memberOf@groupOfNames

`, s.dir, s.CAFile, certFile, keyFile, slapdTestSchema, s.BaseDN, s.RootDN, SSHA(s.RootPassword), dataDir, s.ServiceDN)
	return b.String()
}

func (s *Slapd) dataLDIF(users []LDAPUser) string {
	var b strings.Builder
	fmt.Fprintf(&b, `dn: %s
objectClass: dcObject
objectClass: organization
dc: justice
o: Ministere de la Justice

dn: ou=people,%[1]s
objectClass: organizationalUnit
ou: people

dn: ou=groups,%[1]s
objectClass: organizationalUnit
ou: groups

dn: ou=services,%[1]s
objectClass: organizationalUnit
ou: services

dn: %[2]s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: justiceconnect
userPassword: %[3]s

`, s.BaseDN, s.ServiceDN, SSHA(s.ServicePassword))

	groups := map[string][]string{}
	for _, u := range users {
		cn, sn, given, mail := u.CN, u.SN, u.GivenName, u.Mail
		if sn == "" {
			sn = u.UID
		}
		if given == "" {
			given = u.UID
		}
		if cn == "" {
			cn = given + " " + sn
		}
		if mail == "" {
			mail = u.UID + "@justice.gouv.fr"
		}
		fmt.Fprintf(&b, "dn: %s\nobjectClass: inetOrgPerson\nobjectClass: jcTestAccount\n", s.UserDN(u.UID))
		writeAttr(&b, "uid", u.UID)
		writeAttr(&b, "cn", cn)
		writeAttr(&b, "sn", sn)
		writeAttr(&b, "givenName", given)
		writeAttr(&b, "mail", mail)
		writeAttr(&b, "employeeNumber", u.EmployeeNumber)
		writeAttr(&b, "employeeType", u.EmployeeType)
		for _, c := range u.Courts {
			writeAttr(&b, "departmentNumber", c)
		}
		if u.Password != "" {
			writeAttr(&b, "userPassword", SSHA(u.Password))
		}
		if u.Disabled {
			writeAttr(&b, "nsAccountLock", "TRUE")
		}
		writeAttr(&b, "entryUUID", u.EntryUUID)
		keys := make([]string, 0, len(u.Extra))
		for k := range u.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range u.Extra[k] {
				writeAttr(&b, k, v)
			}
		}
		b.WriteString("\n")
		for _, g := range u.Groups {
			groups[g] = append(groups[g], s.UserDN(u.UID))
		}
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		fmt.Fprintf(&b, "dn: cn=%s,%s\nobjectClass: groupOfNames\ncn: %s\n", g, s.GroupsDN, g)
		for _, m := range groups[g] {
			writeAttr(&b, "member", m)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// writeAttr writes one LDIF line, base64 when the value is not a safe string
// (RFC 2849).
func writeAttr(b *strings.Builder, name, value string) {
	if value == "" {
		return
	}
	safe := value[0] != ' ' && value[0] != ':' && value[0] != '<' && value[len(value)-1] != ' '
	for _, r := range value {
		if r < 0x20 || r > 0x7e {
			safe = false
			break
		}
	}
	if safe {
		fmt.Fprintf(b, "%s: %s\n", name, value)
	} else {
		fmt.Fprintf(b, "%s:: %s\n", name, base64.StdEncoding.EncodeToString([]byte(value)))
	}
}

// SSHA hashes a password the way slappasswd does by default: {SSHA} followed by
// base64(SHA-1(password + salt) + salt) with an 8-byte random salt.
func SSHA(password string) string {
	salt := make([]byte, 8)
	if _, err := rand.Read(salt); err != nil {
		panic(err)
	}
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("peer: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID in its RFC 9562 text form.
func newUUID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("peer: random: %v", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
