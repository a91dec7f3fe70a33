package main

import "testing"

func TestRootCountsRequests(t *testing.T) {
	if got, want := body("/", 42), greeting+" (request #42)\n"; got != want {
		t.Fatalf("body(/) = %q, want %q", got, want)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	if got := body("/nope", 1); got != "" {
		t.Fatalf("body(/nope) = %q, want empty", got)
	}
}
