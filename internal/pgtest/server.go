package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/estatehq/estate/internal/jaegertest"
	"github.com/estatehq/estate/internal/testenv"
)

// EnvBinDir names the folder of the PostgreSQL programs (initdb, pg_ctl);
// /usr/lib/postgresql/15/bin, where scripts/lib.sh finds them, when unset.
const EnvBinDir = "ESTATE_TEST_PG_BIN_DIR"

const defaultBinDir = "/usr/lib/postgresql/15/bin"

// Server is a PostgreSQL cluster of one test's own, which the test may
// stop and restart without disturbing the shared cluster that every other
// test uses (NewDatabase's).
type Server struct {
	// DSN is the superuser DSN of the cluster's postgres database.
	DSN string

	t      testing.TB
	binDir string
	base   string // owned by the cluster's user; holds data/ and the socket
	port   int
	asUser string // "postgres" when the test runs as root, else ""
}

// StartServer initialises a cluster in a fresh folder (initdb, trust auth)
// and starts it on a free loopback port; the cluster is stopped and its
// folder removed when the test ends. As root, where initdb and postgres
// refuse to run, they run as the postgres system user, as scripts/pg.sh
// does. Without the programs it skips t, or fails it in strict mode.
func StartServer(t testing.TB) *Server {
	t.Helper()
	binDir := os.Getenv(EnvBinDir)
	if binDir == "" {
		binDir = defaultBinDir
	}
	if _, err := os.Stat(filepath.Join(binDir, "pg_ctl")); err != nil {
		testenv.Missing(t, "PostgreSQL 15 programs", fmt.Sprintf("no pg_ctl in %s (set %s); run `make deps`", binDir, EnvBinDir))
		return nil
	}
	// Not t.TempDir: its parents are private to the test's user, and the
	// cluster's user must reach its folder.
	base, err := os.MkdirTemp("", "estate-pg-")
	if err != nil {
		t.Fatalf("creating the cluster's folder: %v", err)
	}
	s := &Server{t: t, binDir: binDir, base: base, port: jaegertest.FreePorts(t, 1)[0]}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	if os.Geteuid() == 0 {
		s.asUser = "postgres"
		u, err := user.Lookup(s.asUser)
		if err != nil {
			t.Fatalf("running PostgreSQL as root needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatalf("handing the cluster's folder to postgres: %v", err)
		}
	}
	if out, err := s.run("initdb", "--pgdata="+s.dataDir(), "--username=postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	t.Cleanup(func() {
		_, _ = s.run("pg_ctl", "stop", "--pgdata="+s.dataDir(), "--mode=immediate", "--wait", "--silent")
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Server) dataDir() string { return filepath.Join(s.base, "data") }

// run runs one of the PostgreSQL programs as the cluster's user.
func (s *Server) run(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(s.binDir, prog)
	var cmd *exec.Cmd
	if s.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.base // a folder the cluster's user can enter
	return cmd.CombinedOutput()
}

// Start starts the stopped cluster and waits until it answers SQL.
func (s *Server) Start() error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s -c fsync=off -c max_connections=100", s.port, s.base)
	if out, err := s.run("pg_ctl", "start", "--pgdata="+s.dataDir(), "--log="+filepath.Join(s.base, "postgres.log"),
		"--wait", "--timeout=60", "--silent", "-o", opts); err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s%s", err, out, s.Log())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return testenv.WaitFor(ctx, 50*time.Millisecond, func() error {
		c, err := pgx.Connect(ctx, s.DSN)
		if err != nil {
			return err
		}
		return c.Close(ctx)
	})
}

// Stop stops the cluster in fast mode: open sessions are ended (their
// clients see 57P01 admin_shutdown) and new connections are refused.
func (s *Server) Stop() error {
	if out, err := s.run("pg_ctl", "stop", "--pgdata="+s.dataDir(), "--mode=fast", "--wait", "--timeout=60", "--silent"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Log is the cluster's server log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.base, "postgres.log"))
	return string(b)
}
