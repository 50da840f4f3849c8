package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenderToStdoutAndDir(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-image", "registry.example.com/shortener@sha256:" + strings.Repeat("0", 64)}, &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "kind: Service"); n != 6 {
		t.Errorf("%d Services rendered, want 6", n)
	}
	// The five public functions read the admin key from the install's Secret; no key is in
	// the manifests themselves.
	if n := strings.Count(out.String(), "name: shortener-admin-api-key"); n != 5 {
		t.Errorf("%d Services read the admin key Secret, want 5", n)
	}
	if strings.Contains(out.String(), "shk_") {
		t.Error("an API key is rendered into the manifests")
	}
	dir := t.TempDir()
	if err := run([]string{"-out", dir}, &out); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) != 6 {
		t.Errorf("%d files written, want 6", len(files))
	}
	data, _ := os.ReadFile(filepath.Join(dir, "redirect.yaml"))
	if !strings.Contains(string(data), defaultImage) {
		t.Errorf("without -image or $IMAGE the placeholder %s is used", defaultImage)
	}
}

func TestImageFromEnvironment(t *testing.T) {
	t.Setenv("IMAGE", "registry.example.com/shortener:from-env")
	var out bytes.Buffer
	if err := run(nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "image: registry.example.com/shortener:from-env") {
		t.Error("$IMAGE was not used")
	}
}

func TestRefusesBrokenFuncYAML(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "functions", "urls")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "func.yaml"), []byte("specVersion: 0.36.0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "func.yaml"), []byte("specVersion: 0.36.0\nname: urls\ncreated: 2026-01-01T00:00:00Z\nruntime: go\n"), 0o644)
	var out bytes.Buffer
	if err := run([]string{"-root", root}, &out); err == nil {
		t.Error("a func.yaml without namespace, envs, scale and resources was rendered")
	}
}
