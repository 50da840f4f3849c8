package cachetest

import (
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/store/storetest"
)

// Server is a private Valkey/Redis server that a test may freeze and thaw: SIGSTOP is
// what a hung server looks like (connections stay open, nothing answers), which no
// client-side fake reproduces.
type Server struct {
	URL string
	cmd *exec.Cmd
}

// StartServer starts valkey-server (or redis-server) on a free port without persistence;
// it is killed after the test.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("valkey-server")
	if err != nil {
		if bin, err = exec.LookPath("redis-server"); err != nil {
			storetest.Unavailable(t, "valkey-server or redis-server binary", err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: "redis://127.0.0.1:" + port + "/0", cmd: cmd}
	t.Cleanup(s.Stop)
	for range 100 {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("valkey/redis server did not start")
	return nil
}

// Freeze stops the server process (SIGSTOP).
func (s *Server) Freeze(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
}

// Thaw lets a frozen server go on (SIGCONT).
func (s *Server) Thaw(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

// Stop kills the server; it is safe to call more than once, and on a frozen server.
func (s *Server) Stop() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}
