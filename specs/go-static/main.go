// greeter prints a greeting, or serves it over HTTP with -listen.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
)

func main() {
	greeting := flag.String("greeting", "hi", "what to say")
	listen := flag.String("listen", "", "serve HTTP on this address, e.g. :8080")
	flag.Parse()
	if *listen == "" {
		fmt.Println(*greeting + " from greeter")
		return
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, *greeting+" from greeter")
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
