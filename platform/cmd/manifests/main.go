// Command manifests renders the Knative Service of every function from its func.yaml, the
// same object `func deploy --image IMAGE --build=false` creates, for operators without the
// func CLI:
//
//	go run ./cmd/manifests -image registry.example.com/shortener@sha256:… | kubectl apply -f -
//
// It reads functions/<name>/func.yaml below the repository root and refuses a func.yaml that
// func would refuse, or that breaks this project's rules.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/urlshort/shortener/platform/internal/funcyaml"
	"knative.dev/pkg/apis"
)

const defaultImage = "registry.example.com/shortener:latest"

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("manifests", flag.ContinueOnError)
	image := fs.String("image", envOr("IMAGE", defaultImage), "image every function runs (default $IMAGE)")
	root := fs.String("root", "", "repository root (default: found upward from the working directory)")
	out := fs.String("out", "", "write <function>.yaml files here instead of one stream to stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *root == "" {
		r, err := findRoot()
		if err != nil {
			return err
		}
		*root = r
	}
	docs, err := Render(*root, *image)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(docs))
	for n := range docs {
		names = append(names, n)
	}
	sort.Strings(names)
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(*out, n+".yaml"), docs[n], 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	for i, n := range names {
		if i > 0 {
			fmt.Fprintln(stdout, "---")
		}
		if _, err := stdout.Write(docs[n]); err != nil {
			return err
		}
	}
	return nil
}

// Render returns the Service YAML of every functions/<name>/func.yaml under root, by name.
func Render(root, image string) (map[string][]byte, error) {
	dirs, err := filepath.Glob(filepath.Join(root, "functions", "*", "func.yaml"))
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no functions/*/func.yaml under %s", root)
	}
	out := map[string][]byte{}
	var errs []error
	for _, path := range dirs {
		dir := filepath.Dir(path)
		f, err := funcyaml.Load(dir)
		if err == nil {
			err = errors.Join(f.Validate(), f.CheckPolicy(dir))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		svc, err := f.Service(image)
		if err == nil {
			ctx := apis.WithinCreate(context.Background())
			s := svc.DeepCopy()
			s.SetDefaults(ctx)
			if fe := s.Validate(ctx).Filter(apis.ErrorLevel); fe != nil {
				err = fe
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		y, err := funcyaml.ServiceYAML(svc)
		if err != nil {
			return nil, err
		}
		out[f.Name] = y
	}
	return out, errors.Join(errs...)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// findRoot walks up from the working directory to the folder holding functions/ and the
// root func.yaml.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "functions")); err == nil && st.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, "func.yaml")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root not found; pass -root")
		}
		dir = parent
	}
}
