package peer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBin is where Debian's postgresql package installs the server binaries.
const PostgresBin = "/usr/lib/postgresql/15/bin"

// Postgres is a throwaway PostgreSQL 15 server on 127.0.0.1: its own data directory,
// trust authentication for loopback connections (nothing listens elsewhere), fsync
// off (tests lose nothing when it crashes). It is stopped and its files removed when
// the test that started it ends.
type Postgres struct {
	// DSN connects to the database "justiceconnect" as the superuser.
	DSN  string
	Port int
	Dir  string

	cred *syscall.Credential
	t    testing.TB
	proc atomic.Pointer[Process]
	dbs  atomic.Int64
}

// StartPostgres initialises a cluster in a fresh directory, starts the server and
// creates the database "justiceconnect". PostgreSQL refuses to run as root, so when
// the test runs as root the server runs as the "postgres" system user that the
// Debian package creates.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	initdb := RequireBinary(t, filepath.Join(PostgresBin, "initdb"), "postgresql")
	RequireBinary(t, filepath.Join(PostgresBin, "postgres"), "postgresql")

	p := &Postgres{t: t, Port: FreePort(t)}
	var uid, gid int = -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("peer: postgres refuses to run as root and there is no \"postgres\" user to run it as (it comes with the Debian package postgresql): %v", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir(): its parents are private to the test user, and the server user
	// must reach its directory.
	dir, err := os.MkdirTemp("", "jc-postgres-")
	if err != nil {
		t.Fatalf("peer: postgres: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p.Dir = dir
	if p.cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("peer: postgres: chown %s: %v", dir, err)
		}
	}

	cmd := exec.Command(initdb, "-D", p.dataDir(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	p.prepare(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("peer: postgres: initdb: %v\n%s", err, out)
	}
	p.Start(t)
	p.DSN = p.CreateDatabase(t, "justiceconnect")
	return p
}

func (p *Postgres) dataDir() string { return filepath.Join(p.Dir, "data") }

func (p *Postgres) prepare(cmd *exec.Cmd) {
	cmd.Dir = p.Dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=" + p.Dir}
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
}

// Start starts the server (again, after Stop) on the same port and data directory,
// and waits until it accepts connections.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	if pr := p.proc.Load(); pr != nil && !pr.Exited() {
		return
	}
	cmd := exec.Command(filepath.Join(PostgresBin, "postgres"),
		"-D", p.dataDir(),
		"-k", p.Dir, // Unix socket in our directory, not /var/run/postgresql
		"-h", "127.0.0.1",
		"-p", strconv.Itoa(p.Port),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200",
	)
	p.prepare(cmd)
	pr := Start(t, "postgres", cmd)
	p.proc.Store(pr)
	pr.WaitReady(t, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, p.DSNFor("postgres"))
		if err != nil {
			return err
		}
		return c.Close(ctx)
	})
}

// Stop shuts the server down with a fast shutdown (SIGINT: open sessions are
// disconnected, as in a failover), waiting up to 10 s before killing it.
func (p *Postgres) Stop() {
	pr := p.proc.Load()
	if pr == nil || pr.Exited() {
		return
	}
	_ = pr.Cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-pr.done:
	case <-time.After(10 * time.Second):
		pr.Kill()
	}
}

// Kill ends the server at once (SIGKILL), for crash tests; Start recovers it.
func (p *Postgres) Kill() {
	if pr := p.proc.Load(); pr != nil {
		pr.Kill()
	}
}

// Restart stops and starts the server.
func (p *Postgres) Restart(t testing.TB) {
	t.Helper()
	p.Stop()
	p.Start(t)
}

// DSNFor returns the DSN of database db on this server.
func (p *Postgres) DSNFor(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, db)
}

// CreateDatabase creates database name and returns its DSN.
func (p *Postgres) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.DSNFor("postgres"))
	if err != nil {
		t.Fatalf("peer: postgres: connect: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("peer: postgres: create database %s: %v", name, err)
	}
	return p.DSNFor(name)
}

// NewDatabase creates a database with a fresh name and returns its DSN: one per test
// keeps tests independent on one server.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	return p.CreateDatabase(t, fmt.Sprintf("test_%d", p.dbs.Add(1)))
}
