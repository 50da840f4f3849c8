package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// proc is one process the run started, known by its PID until it is stopped.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// procs starts processes and stops every one of them, newest first, by PID.
type procs struct {
	dir  string
	mu   sync.Mutex
	list []*proc
}

// start runs bin with args and env (added to a minimal environment), its output in
// dir/<name>.log. Each child is its own process group leader, so a terminal's Ctrl-C reaches
// only this driver, which then stops them in order; Pdeathsig kills a child if the driver dies.
func (ps *procs) start(name, bin string, args, env []string) (*proc, error) {
	return ps.startIn(ps.dir, name, bin, args, env)
}

// startIn is start with another working directory.
func (ps *procs) startIn(dir, name, bin string, args, env []string) (*proc, error) {
	logPath := filepath.Join(ps.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + ps.dir}, env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	logf("started %s (pid %d), log %s", name, cmd.Process.Pid, logPath)
	return p, nil
}

// exited reports the first process that ended on its own, if any.
func (ps *procs) exited() error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.list {
		select {
		case <-p.done:
			return fmt.Errorf("%s (pid %d) exited: %v (see %s)", p.name, p.cmd.Process.Pid, p.err, p.log)
		default:
		}
	}
	return nil
}

// stopAll sends SIGTERM to each process (newest first), gives them all a few seconds together,
// then SIGKILLs the process group of any still there, and waits until each has been reaped.
func (ps *procs) stopAll() error {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		_ = syscall.Kill(list[i].cmd.Process.Pid, syscall.SIGTERM)
	}
	grace := time.After(5 * time.Second)
	expired := make(chan time.Time)
	close(expired)
	var errs []error
	for i := len(list) - 1; i >= 0; i-- {
		p := list[i]
		pid := p.cmd.Process.Pid
		select {
		case <-p.done:
		case <-grace:
			grace = expired
		}
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				errs = append(errs, fmt.Errorf("%s (pid %d) did not die", p.name, pid))
				continue
			}
		}
		// Whatever the group leader left behind goes with it.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		logf("stopped %s (pid %d)", p.name, pid)
	}
	return errors.Join(errs...)
}
