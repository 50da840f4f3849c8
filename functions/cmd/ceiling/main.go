// Command ceiling is a bare net/http server that answers every request with the same 302.
// It is the ceiling the redirect hot path is measured against (see BENCHMARKS.md). With
// -funcgo it serves the same 302 through func-go's runtime, as every function is served
// (its server timeouts and its own mux in front), which splits the gap to the bare
// ceiling into what the runtime costs and what this project's code costs.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"

	fhttp "knative.dev/func-go/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18181", "listen address")
	location := flag.String("location", "https://example.com/", "Location of the 302")
	funcgo := flag.Bool("funcgo", false, "serve through func-go's runtime instead of a bare net/http server")
	flag.Parse()
	redirect := instance(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", *location)
		w.Header().Set("Cache-Control", "private, max-age=0")
		w.WriteHeader(http.StatusFound)
	})
	if *funcgo {
		if err := os.Setenv("LISTEN_ADDRESS", *addr); err != nil { // func-go reads its address there
			log.Fatal(err)
		}
		log.Fatal(fhttp.Start(redirect))
	}
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(redirect)))
}

// instance is a func-go function instance made of a handler func.
type instance func(http.ResponseWriter, *http.Request)

func (f instance) Handle(w http.ResponseWriter, r *http.Request) { f(w, r) }
