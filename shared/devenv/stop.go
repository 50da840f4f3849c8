package devenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Stop stops the private servers that Postgres and Redis started under dir and returns one
// line for each server it stopped (none when nothing was running). It finds them by their
// data folder and pid file under dir, so the machine's own servers and configured ones are
// never touched, and their data stays: the next run starts them again on it.
func Stop(ctx context.Context, dir string) ([]string, error) {
	unlock, err := lock(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var stopped []string
	var errs []error
	pg, err := stopPostgres(ctx, filepath.Join(dir, "postgres"))
	if err != nil {
		errs = append(errs, err)
	} else if pg {
		stopped = append(stopped, "stopped the private PostgreSQL under "+filepath.Join(dir, "postgres"))
	}
	rd, err := stopRedis(ctx, filepath.Join(dir, "redis"))
	if err != nil {
		errs = append(errs, err)
	} else if rd {
		stopped = append(stopped, "stopped the private Redis under "+filepath.Join(dir, "redis"))
	}
	return stopped, errors.Join(errs...)
}

// stopPostgres stops the cluster in data if one runs there, with pg_ctl's fast mode
// (open sessions are ended, as a shutdown of the machine would), and says whether it did.
func stopPostgres(ctx context.Context, data string) (bool, error) {
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		return false, nil
	}
	pgCtl := pgBin("pg_ctl")
	if pgCtl == "" {
		return false, fmt.Errorf("devenv: pg_ctl not found; cannot stop the private PostgreSQL under %s", data)
	}
	// pg_ctl status exits 3 when no server runs on the folder; a stale postmaster.pid
	// left by a crash counts as not running.
	if err := asPostgres(ctx, pgCtl, "status", "-D", data).Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 3 {
			return false, nil
		}
		return false, fmt.Errorf("devenv: pg_ctl status -D %s: %v", data, err)
	}
	if out, err := asPostgres(ctx, pgCtl, "stop", "-D", data, "-m", "fast", "-w").CombinedOutput(); err != nil {
		return false, fmt.Errorf("devenv: pg_ctl stop: %v: %s", err, out)
	}
	return true, nil
}

// stopRedis stops the Redis whose pid file is in dir, if it still runs, and says whether it
// did. It signals only a process that is a Redis or Valkey server, so a pid reused by
// something else after a crash is left alone.
func stopRedis(ctx context.Context, dir string) (bool, error) {
	pidFile := filepath.Join(dir, "redis.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false, fmt.Errorf("devenv: %s does not hold a pid", pidFile)
	}
	if !alive(pid) {
		_ = os.Remove(pidFile)
		return false, nil
	}
	if name := processName(pid); name != "redis-server" && name != "valkey-server" {
		return false, fmt.Errorf("devenv: %s names pid %d, which is %q, not a Redis; left alone", pidFile, pid, name)
	}
	// SIGTERM makes Redis shut down cleanly; with --save "" it writes nothing.
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return false, fmt.Errorf("devenv: stop Redis (pid %d): %w", pid, err)
	}
	for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false, fmt.Errorf("devenv: Redis (pid %d) still runs 10 s after SIGTERM", pid)
		}
	}
	_ = os.Remove(pidFile)
	return true, nil
}

// alive reports whether a process runs. A zombie (exited, not yet reaped, which happens
// to daemons in containers whose init does not reap) counts as gone.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		// No /proc entry: gone on Linux; elsewhere ask the kernel.
		if _, statErr := os.Stat("/proc/self"); statErr == nil {
			return false
		}
		return syscall.Kill(pid, 0) == nil
	}
	// The state follows the parenthesised command name, which may itself hold spaces.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// processName returns the name of a process's executable ("" when unknown).
func processName(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
