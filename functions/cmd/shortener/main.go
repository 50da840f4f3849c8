// Command shortener runs the function the way func build's generated main does: func-go
// serves it, traps signals and calls Start and Stop. Set FUNCTION to serve one route group.
package main

import (
	"fmt"
	"os"

	fhttp "knative.dev/func-go/http"

	function "github.com/urlshort/shortener"
)

func main() {
	if err := fhttp.Start(function.New()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
