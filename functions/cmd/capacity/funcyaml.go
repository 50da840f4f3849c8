package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// deployed is what the capacity run takes from a function's func.yaml so that each
// process runs as deployed: its literal environment values, its scale target and its
// memory limit.
type deployed struct {
	Envs        map[string]string // literal run.envs values; {{ secret:… }} ones are left out
	Refs        map[string]bool   // run.envs names whose value is a reference (secrets, …)
	Metric      string
	Target      float64
	Utilization float64
	MemoryLimit string
}

// readFuncYAML reads the few fields above from functions/<name>/func.yaml. The root
// module has no YAML library and these files have one shape (the platform module parses
// them strictly with func's schema and checks them in make test), so this reads their
// lines: `- name:`/`value:` pairs under run.envs and the keys under
// deploy.options.scale and resources.limits. It fails on anything it cannot place.
func readFuncYAML(functionsDir, name string) (*deployed, error) {
	path := filepath.Join(functionsDir, name, "func.yaml")
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := &deployed{Envs: map[string]string{}, Refs: map[string]bool{}}
	var section []string // the keys of the enclosing mappings
	env := ""
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		raw := sc.Text()
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(raw) - len(strings.TrimLeft(raw, " "))
		item := strings.HasPrefix(trimmed, "- ")
		key, val, ok := strings.Cut(strings.TrimPrefix(trimmed, "- "), ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: not a key: value line", path, line)
		}
		key, val = strings.TrimSpace(key), unquote(strings.TrimSpace(val))
		level := indent / 2
		if item {
			level = indent/2 + 1
		}
		if level > len(section) {
			return nil, fmt.Errorf("%s:%d: unexpected indentation", path, line)
		}
		section = section[:level]
		where := strings.Join(section, ".")
		switch {
		case where == "run.envs" && key == "name":
			env = val
		case where == "run.envs" && key == "value":
			if env == "" {
				return nil, fmt.Errorf("%s:%d: value without name", path, line)
			}
			if strings.HasPrefix(val, "{{") {
				d.Refs[env] = true
			} else {
				d.Envs[env] = val
			}
			env = ""
		case where == "deploy.options.scale" && key == "metric":
			d.Metric = val
		case where == "deploy.options.scale" && key == "target":
			d.Target, err = strconv.ParseFloat(val, 64)
		case where == "deploy.options.scale" && key == "utilization":
			d.Utilization, err = strconv.ParseFloat(val, 64)
		case where == "deploy.options.resources.limits" && key == "memory":
			d.MemoryLimit = val
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if val == "" && !item {
			section = append(section, key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if d.Metric == "" || d.Target <= 0 || d.Utilization <= 0 || d.Envs["FUNCTION"] != name {
		return nil, fmt.Errorf("%s: no scale metric/target/utilization or FUNCTION=%s found", path, name)
	}
	return d, nil
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// memoryLimitBytes parses a Kubernetes memory quantity in Mi or Gi.
func memoryLimitBytes(q string) (int64, error) {
	for suffix, mult := range map[string]int64{"Mi": 1 << 20, "Gi": 1 << 30} {
		if n, ok := strings.CutSuffix(q, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * mult, err
		}
	}
	return 0, fmt.Errorf("memory limit %q: want Mi or Gi", q)
}
