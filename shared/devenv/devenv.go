// Package devenv finds, or starts, the PostgreSQL and Valkey/Redis servers that local
// runs and tests need. A configured server (DATABASE_URL, VALKEY_URL) is used as given or
// not at all; only when none is configured does it take the machine's default ports, and
// otherwise private servers under a folder (.dev/), started from Debian's binaries
// (installed with apt-get when running as root).
package devenv

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Ports of the private servers, away from the defaults so they never clash with them.
const (
	privatePGPort    = "54329"
	privateRedisPort = "63799"
)

// Ping checks that a server answers at a URL.
type Ping func(ctx context.Context, url string) error

// ErrConfigured marks a server that was configured explicitly (DATABASE_URL, VALKEY_URL)
// but cannot be used. Nothing falls back from it: a run or test that was told where to
// write must not quietly write somewhere else, so callers stop rather than skip.
var ErrConfigured = errors.New("configured server unusable")

// Postgres returns the admin URL of a PostgreSQL server that answers. When $DATABASE_URL
// is set, that is its server or an error wrapping ErrConfigured; only when it is unset does
// it try 127.0.0.1:5432 and then a private server under dir. The URL names the "postgres"
// database; callers create their own.
func Postgres(ctx context.Context, dir string, ping Ping) (string, error) {
	if env := os.Getenv("DATABASE_URL"); env != "" {
		admin, err := postgresAdmin(env)
		if err != nil {
			return "", err
		}
		if err := answers(ctx, admin, ping); err != nil {
			return "", fmt.Errorf("devenv: %w: DATABASE_URL=%s does not answer (%v); start that server, or unset DATABASE_URL to use 127.0.0.1:5432 or a private server under .dev/", ErrConfigured, Redact(env), err)
		}
		return admin, nil
	}
	local := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	if answers(ctx, local, ping) == nil {
		return local, nil
	}
	private := "postgres://postgres@127.0.0.1:" + privatePGPort + "/postgres?sslmode=disable"
	unlock, err := lock(dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if answers(ctx, private, ping) == nil {
		return private, nil
	}
	if err := startPostgres(ctx, filepath.Join(dir, "postgres"), privatePGPort); err != nil {
		return "", err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if answers(ctx, private, ping) == nil {
			return private, nil
		}
	}
	return "", fmt.Errorf("devenv: private PostgreSQL under %s did not answer; see its log there", dir)
}

// postgresAdmin turns a configured DATABASE_URL into the URL of its server's "postgres"
// database. Only URLs can be rewritten that way; a keyword/value string is refused.
func postgresAdmin(env string) (string, error) {
	u, err := url.Parse(env)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "", fmt.Errorf("devenv: %w: DATABASE_URL must be a postgres://user@host:port/db URL", ErrConfigured)
	}
	return WithDatabase(env, "postgres"), nil
}

// Database returns the database a PostgreSQL URL names ("" when it names none).
func Database(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(p.Path, "/")
}

// Redis returns the URL of a Valkey/Redis server that answers. When $VALKEY_URL is set,
// that is it, as given, or an error wrapping ErrConfigured; only when it is unset does it
// try 127.0.0.1:6379 and then a private server under dir.
func Redis(ctx context.Context, dir string) (string, error) {
	if env := os.Getenv("VALKEY_URL"); env != "" {
		if err := redisAnswers(env); err != nil {
			return "", fmt.Errorf("devenv: %w: VALKEY_URL=%s does not answer (%v); start that server, or unset VALKEY_URL to use 127.0.0.1:6379 or a private server under .dev/", ErrConfigured, Redact(env), err)
		}
		return env, nil
	}
	local := "redis://127.0.0.1:6379/0"
	if redisAnswers(local) == nil {
		return local, nil
	}
	private := "redis://127.0.0.1:" + privateRedisPort + "/0"
	unlock, err := lock(dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if redisAnswers(private) == nil {
		return private, nil
	}
	if err := startRedis(ctx, filepath.Join(dir, "redis"), privateRedisPort); err != nil {
		return "", err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if redisAnswers(private) == nil {
			return private, nil
		}
	}
	return "", fmt.Errorf("devenv: private Redis under %s did not answer", dir)
}

func answers(ctx context.Context, u string, ping Ping) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return ping(ctx, u)
}

// redisAnswers speaks just enough RESP to see a PONG: over TLS for rediss://, after an
// AUTH when there is a password, since a server that wants one answers PING with an error.
func redisAnswers(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" || u.Host == "" {
		return fmt.Errorf("want a redis://host:port/db or rediss:// URL")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "6379")
	}
	d := &net.Dialer{Timeout: time.Second}
	var conn net.Conn
	if u.Scheme == "rediss" {
		conn, err = tls.DialWithDialer(d, "tcp", host, &tls.Config{ServerName: u.Hostname()})
	} else {
		conn, err = d.Dial("tcp", host)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(conn)
	pass, ok := u.User.Password()
	if !ok && os.Getenv("VALKEY_PASSWORD") != "" {
		// The runtime sends VALKEY_PASSWORD when the URL carries none; so does this check.
		pass, ok = os.Getenv("VALKEY_PASSWORD"), true
	}
	if ok {
		auth := []string{"AUTH", pass}
		if name := u.User.Username(); name != "" {
			auth = []string{"AUTH", name, pass}
		}
		if err := command(conn, r, auth...); err != nil {
			return err
		}
	}
	return command(conn, r, "PING")
}

// command sends one RESP command and wants a simple-string reply.
func command(conn net.Conn, r *bufio.Reader, args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+") {
		return fmt.Errorf("%s answered %q", args[0], strings.TrimSpace(line))
	}
	return nil
}

// Redact hides the password of a URL, for messages.
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "unparsable URL"
	}
	return p.Redacted()
}

// WithDatabase returns a PostgreSQL URL naming another database on the same server.
func WithDatabase(u, db string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/" + db
	return p.String()
}

// lock serialises starts across processes (test packages run in parallel).
func lock(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// pgBin finds a PostgreSQL server binary: on PATH, or in Debian's versioned folder.
func pgBin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	sort.Strings(found)
	if len(found) == 0 {
		return ""
	}
	return found[len(found)-1]
}

// ensureInstalled installs a Debian package when its binary is missing and we are root;
// otherwise it says exactly what to run.
func ensureInstalled(ctx context.Context, have func() bool, pkg string) error {
	if have() {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("devenv: %s is not installed; run: sudo apt-get install -y %s", pkg, pkg)
	}
	fmt.Fprintf(os.Stderr, "devenv: installing %s with apt-get\n", pkg)
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", pkg}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("devenv: apt-get %s: %w", strings.Join(args, " "), err)
		}
	}
	if !have() {
		return fmt.Errorf("devenv: %s installed but its binaries were not found", pkg)
	}
	return nil
}

// asPostgres runs a PostgreSQL binary: as user postgres when we are root, since PostgreSQL
// refuses to run as root and its data folder belongs to that user.
func asPostgres(ctx context.Context, name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// startPostgres initialises (once) and starts a private cluster with trust auth on
// 127.0.0.1 at port.
func startPostgres(ctx context.Context, data, port string) error {
	if err := ensureInstalled(ctx, func() bool { return pgBin("initdb") != "" }, "postgresql"); err != nil {
		return err
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if out, err := exec.CommandContext(ctx, "chown", "-R", "postgres:postgres", filepath.Dir(data)).CombinedOutput(); err != nil {
			return fmt.Errorf("devenv: chown %s: %v: %s", data, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		out, err := asPostgres(ctx, pgBin("initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8").CombinedOutput()
		if err != nil {
			return fmt.Errorf("devenv: initdb: %v: %s", err, out)
		}
	}
	opts := "-p " + port + " -k " + data + " -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
	out, err := asPostgres(ctx, pgBin("pg_ctl"), "-D", data, "-l", filepath.Join(data, "server.log"), "-o", opts, "-w", "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("devenv: pg_ctl start: %v: %s", err, out)
	}
	return nil
}

// startRedis starts a private, non-persistent Redis (or Valkey) at port as a daemon.
func startRedis(ctx context.Context, dir, port string) error {
	bin := func() string {
		for _, name := range []string{"valkey-server", "redis-server"} {
			if p, err := exec.LookPath(name); err == nil {
				return p
			}
		}
		return ""
	}
	if err := ensureInstalled(ctx, func() bool { return bin() != "" }, "redis-server"); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, bin(), "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "yes", "--dir", dir,
		"--pidfile", filepath.Join(dir, "redis.pid"), "--logfile", filepath.Join(dir, "redis.log")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("devenv: redis-server: %v: %s", err, out)
	}
	return nil
}
