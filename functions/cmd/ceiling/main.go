// Command ceiling is a bare net/http server that answers every request with the same 302.
// It is the ceiling the redirect hot path is measured against (see BENCHMARKS.md).
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18181", "listen address")
	location := flag.String("location", "https://example.com/", "Location of the 302")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", *location)
		w.Header().Set("Cache-Control", "private, max-age=0")
		w.WriteHeader(http.StatusFound)
	})))
}
