package function

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFunctionFoldersStayThin holds the house rule of STYLE.md: a route group's folder
// (functions/<group>, not the commands or the test harness) talks to PostgreSQL, Valkey
// and Prometheus only through shared/, so it imports neither shared/store nor a driver,
// and it tells the cache what a write did (one method per kind of write) instead of
// naming cache keys or key families, which would make it know other groups' keys.
func TestFunctionFoldersStayThin(t *testing.T) {
	forbidden := []string{
		"github.com/urlshort/shortener/shared/store",
		"github.com/jackc/pgx",
		"github.com/valkey-io/valkey-go",
		"github.com/prometheus/client_golang",
	}
	// The cache's key-level vocabulary: families and the raw invalidations.
	keyLevel := map[string]bool{
		"URLItem": true, "UserItem": true, "URLList": true, "UserList": true,
		"InvalidateItem": true, "InvalidateRedirect": true, "BumpList": true,
	}
	dirs, err := filepath.Glob("functions/*")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, dir := range dirs {
		if base := filepath.Base(dir); base == "cmd" || base == "internal" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				for _, bad := range forbidden {
					if path == bad || strings.HasPrefix(path, bad+"/") {
						t.Errorf("%s imports %s: go through shared/ instead", file, path)
					}
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && keyLevel[sel.Sel.Name] {
					t.Errorf("%s uses %s: tell the cache what the write did, not which keys it touches", file, sel.Sel.Name)
				}
				return true
			})
		}
	}
	if checked < 6 {
		t.Fatalf("checked %d files under functions/: the layout moved, this test must follow it", checked)
	}
}
