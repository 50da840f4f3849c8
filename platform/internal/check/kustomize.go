package check

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Upstream supplies the release manifests a kustomization lists under upstream/: the files
// install.sh downloads. Offline they come from small stand-ins in testdata (or, for
// CloudNativePG, the real release file shipped in its Go module).
type Upstream func(component, file string) ([]byte, error)

// Build runs kustomize on dir the way `kubectl kustomize` does (krusty, default options),
// on an in-memory copy of the tree so that the upstream/ files can be supplied offline.
// It returns the rendered YAML and its decoded documents.
func Build(dir string, upstream Upstream) ([]byte, []*Doc, error) {
	mem := filesys.MakeFsInMemory()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, err
	}
	// Our kustomizations reference only files below themselves (kustomize's default load
	// restrictor insists on it), so copying dir is enough.
	err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "testdata", "upstream", "cmd", "internal":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return mem.WriteFile(path, data)
	})
	if err != nil {
		return nil, nil, err
	}

	k, err := readKustomization(abs)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range k.Resources {
		if !strings.HasPrefix(r, "upstream/") {
			continue
		}
		data, err := upstream(filepath.Base(abs), strings.TrimPrefix(r, "upstream/"))
		if err != nil {
			return nil, nil, err
		}
		if err := mem.WriteFile(filepath.Join(abs, r), data); err != nil {
			return nil, nil, err
		}
	}

	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, abs)
	if err != nil {
		return nil, nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		return nil, nil, err
	}
	docs, err := DecodeAll("kustomize build "+dir, out)
	return out, docs, err
}

// readKustomization decodes dir/kustomization.yaml strictly into kustomize's own type.
func readKustomization(dir string) (*kustypes.Kustomization, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k kustypes.Kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		return nil, fmt.Errorf("%s/kustomization.yaml: %w", dir, err)
	}
	return &k, nil
}

// Kustomizations lists the directories under roots that hold a kustomization.yaml.
func Kustomizations(roots ...string) ([]string, error) {
	var dirs []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || d.Name() == "upstream" || d.Name() == ".git") {
				return filepath.SkipDir
			}
			if !d.IsDir() && d.Name() == "kustomization.yaml" {
				dirs = append(dirs, filepath.Dir(path))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return dirs, nil
}

// Referenced returns every file a kustomization uses, split into resources and patches
// (patches are partial objects: decoded strictly, but not validated as whole objects).
func Referenced(dir string) (resources, patches []string, err error) {
	k, err := readKustomization(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range k.Resources {
		if !strings.HasPrefix(r, "upstream/") {
			resources = append(resources, filepath.Join(dir, r))
		}
	}
	for _, p := range k.Patches {
		if p.Path != "" {
			patches = append(patches, filepath.Join(dir, p.Path))
		}
	}
	//lint:ignore SA1019 rejecting the deprecated fields is the point
	if len(k.PatchesStrategicMerge) > 0 || len(k.PatchesJson6902) > 0 {
		return nil, nil, errors.New(dir + ": use patches, not the deprecated patch fields")
	}
	return resources, patches, nil
}
