package config_test

import (
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/urlshort/shortener/shared/config"
)

// restoreRuntime puts the test process's GC settings back after a test changed them.
func restoreRuntime(t *testing.T) {
	gc, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gc)
	t.Cleanup(func() { debug.SetGCPercent(gc); debug.SetMemoryLimit(limit) })
}

// unsetRuntimeEnv removes the variables TuneRuntime defers to, for the rest of the test.
func unsetRuntimeEnv(t *testing.T) {
	for _, key := range []string{"GOGC", "GOMEMLIMIT", "AUTOMEMLIMIT"} {
		t.Setenv(key, "") // registers the restore
		if err := os.Unsetenv(key); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTuneRuntimeDefaults(t *testing.T) {
	restoreRuntime(t)
	unsetRuntimeEnv(t)
	gc, limit := config.TuneRuntime(memlimit.Limit(256 << 20))
	if gc != config.GCPercent {
		t.Errorf("GOGC %d, want %d", gc, config.GCPercent)
	}
	container := float64(256 << 20)
	if want := int64(container * config.MemoryLimitRatio); limit != want || debug.SetMemoryLimit(-1) != want {
		t.Errorf("memory limit %d, want %d of a 256 MiB container", limit, want)
	}
}

func TestTuneRuntimeKeepsTheEnvironment(t *testing.T) {
	restoreRuntime(t)
	debug.SetGCPercent(150) // as GOGC=150 would have at start
	debug.SetMemoryLimit(100 << 20)
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "100MiB")
	gc, limit := config.TuneRuntime(memlimit.Limit(256 << 20))
	if gc != 150 || limit != 100<<20 {
		t.Errorf("GOGC %d and limit %d, want the environment's 150 and 100 MiB", gc, limit)
	}
}

func TestTuneRuntimeWithoutLimit(t *testing.T) {
	restoreRuntime(t)
	unsetRuntimeEnv(t)
	debug.SetMemoryLimit(math.MaxInt64) // none
	noLimit := func() (uint64, error) { return 0, memlimit.ErrNoLimit }
	if _, limit := config.TuneRuntime(noLimit); limit != 0 {
		t.Errorf("memory limit %d without a container limit, want none", limit)
	}
}
