package cache_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestFunctionsNameNoKeys: the functions tell the cache what a write was (URLWritten,
// UserDeleted, ...) and read through it by resource (ReadUser, ReadURLs, ReadRedirect);
// which keys a write touches is decided here alone. So no function's code names a key
// family or calls a per-key primitive.
func TestFunctionsNameNoKeys(t *testing.T) {
	families := map[string]bool{"URLItem": true, "UserItem": true, "URLList": true, "UserList": true}
	primitives := map[string]bool{
		"GetItem": true, "FillItem": true, "InvalidateItem": true, "ReadItem": true,
		"ListVersion": true, "GetList": true, "FillList": true, "BumpList": true, "ReadList": true,
		"FillRedirect": true, "FillMissing": true, "InvalidateRedirect": true,
	}
	root := filepath.Join("..", "..", "functions")
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		files++
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "cache" && families[sel.Sel.Name] {
				t.Errorf("%s: names the key family cache.%s", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			if primitives[sel.Sel.Name] {
				t.Errorf("%s: calls the cache primitive %s", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Fatalf("read %d files under %s, want the functions' code", files, root)
	}
}
