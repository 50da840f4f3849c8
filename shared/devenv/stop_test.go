package devenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freePort returns a loopback port where nothing listens (it was just free).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}

// unavailable fails in CI, where both servers are installed, and skips elsewhere.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf("SKIPPED: "+format, args...)
}

func listening(port string) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestStop starts both private servers the way Postgres and Redis do, on ports of the
// test's own under a folder of its own, and stops them as make stop does.
func TestStop(t *testing.T) {
	if pgBin("initdb") == "" {
		unavailable(t, "PostgreSQL's initdb is not installed")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if _, err := exec.LookPath("valkey-server"); err != nil {
			unavailable(t, "neither redis-server nor valkey-server is installed")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), ".dev")
	// As root, PostgreSQL runs as user postgres, which must reach its folder.
	if err := os.Chmod(filepath.Dir(filepath.Dir(dir)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = Stop(context.Background(), dir) })

	if got, err := Stop(ctx, dir); err != nil || len(got) != 0 {
		t.Fatalf("Stop with nothing started = %q, %v; want nothing stopped", got, err)
	}
	pgPort, redisPort := freePort(t), freePort(t)
	if err := startPostgres(ctx, filepath.Join(dir, "postgres"), pgPort); err != nil {
		t.Fatal(err)
	}
	if err := startRedis(ctx, filepath.Join(dir, "redis"), redisPort); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !listening(redisPort); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the private Redis did not start")
		}
	}
	if !listening(pgPort) {
		t.Fatal("the private PostgreSQL did not start")
	}

	got, err := Stop(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !strings.Contains(got[0], "PostgreSQL") || !strings.Contains(got[1], "Redis") {
		t.Fatalf("Stop = %q; want a line for PostgreSQL and one for Redis", got)
	}
	if listening(pgPort) || listening(redisPort) {
		t.Fatalf("a server still listens after Stop (PostgreSQL %v, Redis %v)", listening(pgPort), listening(redisPort))
	}
	if _, err := os.Stat(filepath.Join(dir, "postgres", "PG_VERSION")); err != nil {
		t.Fatalf("Stop lost the PostgreSQL data: %v", err)
	}
	if got, err := Stop(ctx, dir); err != nil || len(got) != 0 {
		t.Fatalf("a second Stop = %q, %v; want nothing stopped", got, err)
	}
}

// TestStopRedisLeavesOthersAlone: a pid file naming a process that is not a Redis (a pid
// reused after a crash) is refused, and one naming no process is a stale file.
func TestStopRedisLeavesOthersAlone(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "redis.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if stopped, err := stopRedis(context.Background(), dir); stopped || err == nil || !strings.Contains(err.Error(), "not a Redis") {
		t.Fatalf("stopRedis on the test's own pid = %v, %v; want it refused", stopped, err)
	}
	if _, err := os.Stat(pidFile); err != nil {
		t.Fatalf("the pid file of a refused stop was removed: %v", err)
	}

	// A process that has exited and been reaped leaves its pid unused.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if stopped, err := stopRedis(context.Background(), dir); stopped || err != nil {
		t.Fatalf("stopRedis on a stale pid file = %v, %v; want nothing stopped", stopped, err)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("the stale pid file is still there: %v", err)
	}
}
