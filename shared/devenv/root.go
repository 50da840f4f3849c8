package devenv

import (
	"os"
	"path/filepath"
)

// Dir returns the .dev folder at the top of the module that holds the working directory,
// where private servers keep their data.
func Dir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ".dev"
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "func.yaml")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				return filepath.Join(d, ".dev")
			}
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, ".dev")
		}
	}
}
