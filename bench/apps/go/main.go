// Command greeter is a tiny HTTP server using only the standard library.
// `greeter -once` prints the greeting and exits.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync/atomic"
)

const greeting = "hello from the go greeter"

var hits atomic.Uint64

// body returns the response body for a request path, or "" for a 404.
func body(path string, n uint64) string {
	switch path {
	case "/":
		return fmt.Sprintf("%s (request #%d)\n", greeting, n)
	case "/health":
		return "ok\n"
	}
	return ""
}

func handler(w http.ResponseWriter, r *http.Request) {
	b := body(r.URL.Path, hits.Add(1))
	if b == "" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprint(w, b)
}

func main() {
	once := flag.Bool("once", false, "print the greeting and exit")
	flag.Parse()
	if *once {
		fmt.Print(body("/", 1))
		return
	}
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = ":8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, http.HandlerFunc(handler)))
}
