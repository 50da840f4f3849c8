package config

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// GCPercent is the GOGC a function runs with when GOGC is not set. A function's live heap
// is about 11 MB; at Go's default of 100 the redirect collected 15 times a second under
// load, each time stopping the world on a container's one or two CPUs. At 400 it collects
// about four times a second and answers 5 % more redirects (BENCHMARKS.md), for a heap of
// about 55 MB. MemoryLimitRatio keeps that bounded where memory is.
const GCPercent = 400

// MemoryLimitRatio is the share of the container's memory limit (its cgroup's) given to
// the Go runtime as GOMEMLIMIT when GOMEMLIMIT is not set: near it, the runtime collects
// more often instead of letting the kernel kill the pod. The rest is headroom for what
// the runtime does not count (stacks of threads, the kernel's buffers). AUTOMEMLIMIT
// overrides the ratio, or turns this off ("off").
const MemoryLimitRatio = 0.8

// TuneRuntime applies GCPercent and the memory limit unless the environment sets them,
// reading the limit from provider (memlimit.FromCgroup in a container). It returns the
// GOGC and memory limit in force; a limit of 0 means there is none.
func TuneRuntime(provider memlimit.Provider) (gcPercent int, memLimit int64) {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(GCPercent)
	}
	if _, err := memlimit.SetGoMemLimitWithOpts(memlimit.WithRatio(MemoryLimitRatio), memlimit.WithProvider(provider)); err != nil {
		slog.Warn("memory limit not set", "err", err)
	}
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	gcPercent, memLimit = int(s[0].Value.Uint64()), int64(s[1].Value.Uint64())
	if memLimit == math.MaxInt64 {
		memLimit = 0
	}
	return gcPercent, memLimit
}
