// Command shortener runs the function the way func build's generated main does: func-go
// serves it, traps signals and calls Start and Stop. Set FUNCTION to serve one route group.
package main

import (
	"fmt"
	"io"
	"os"

	fhttp "knative.dev/func-go/http"

	function "github.com/urlshort/shortener"
)

func main() {
	// The server takes no arguments, only environment variables; an argument (-h, or a
	// flag that is not one) is answered with where they are described, not ignored.
	if len(os.Args) > 1 {
		os.Exit(usage(os.Stderr, os.Args[1:]))
	}
	if err := fhttp.Start(function.New()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// usage prints the help text and returns the exit status: 0 when help was asked for, 2
// for any other argument, as the flag package does.
func usage(w io.Writer, args []string) int {
	status := 0
	switch args[0] {
	case "-h", "-help", "--help":
	default:
		status = 2
		fmt.Fprintf(w, "shortener: takes no arguments, got %q\n", args[0])
	}
	fmt.Fprint(w, `Usage: shortener

Serves the URL shortener's HTTP API (the function func build deploys), configured by
environment variables only; the main ones:

  LISTEN_ADDRESS  listen address (default [::]:8080)
  FUNCTION        route group to serve: health, users, urls, redirect, events,
                  events-writer (default: all but the events-writer)
  DATABASE_URL    PostgreSQL (default postgres://postgres@127.0.0.1:5432/shortener?sslmode=disable)
  VALKEY_URL      Valkey/Redis, redis://host:port/db (default: none, no cache)
  LOG_LEVEL       debug, info, warn, error (default info)

Every variable is listed under "Configuration" in README.md. make run finds or starts
PostgreSQL and Valkey/Redis and sets DATABASE_URL, VALKEY_URL and LISTEN_ADDRESS.
`)
	return status
}
