package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
)

// inNetnsEnv marks the copy of this command that runs inside the private network namespace.
const inNetnsEnv = "CLUSTERTEST_IN_NETNS"

// reexecInNetns runs this command again in a new network namespace of its own (loopback
// only) and returns its exit code. The namespace has no name and no mount: it ends with the
// last process inside it, all of which the inner copy starts and stops by PID.
func reexecInNetns() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "clustertest:", err)
		return 1
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), inNetnsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "clustertest: a private network namespace needs root (CLONE_NEWNET):", err)
		return 1
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		for s := range sig {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if ee.ExitCode() < 0 {
			return 1
		}
		return ee.ExitCode()
	}
	if err != nil {
		return 1
	}
	return 0
}

// prefetch fills the module cache, while there is still a network, with what the run reads
// inside its namespace and build.sh's builds did not fetch: the modules only read for their
// YAML (upstream.go) and those `go run ./cmd/manifests` compiles. On a machine that has them
// it only reads the cache.
func prefetch(repo string) error {
	for _, m := range []string{traefikModule, promOperatorMod, helmCtrlModule} {
		if _, err := moduleDir(m); err != nil {
			return err
		}
	}
	cmd := exec.Command(goCmd(), "list", "-deps", "./cmd/manifests")
	cmd.Dir = filepath.Join(repo, "platform")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go list -deps ./cmd/manifests in platform/: %w", err)
	}
	return nil
}

// setupNetwork brings loopback up and makes the addresses the cluster uses local: the
// API server's advertised address, the whole Service range, so the API server reaches
// admission webhooks at their ClusterIP with no kube-proxy, and the pod range kwok assigns
// from, so CloudNativePG's operator reaches the simulated instance managers at their pods'
// IPs (instancemanager.go). Nothing leaves the namespace.
func setupNetwork() error {
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", apiserverIP + "/32", "dev", "lo"},
		{"route", "add", "local", serviceCIDR, "dev", "lo"},
		{"route", "add", "local", podCIDR, "dev", "lo"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %v: %v: %s", args, err, out)
		}
	}
	return nil
}
