package main

import (
	"os"
	"testing"

	"mailgrid/internal/directory"
)

// The Dovecot accounts' argon2id hashes are what mailgrid itself stores: mailgrid verifies
// them and asks for no rehash, which it does for any other parameters, so a login costs
// Dovecot what it costs mailgrid.
func TestArgon2idHashHasMailgridParameters(t *testing.T) {
	h, err := argon2idHash("bench-password")
	if err != nil {
		t.Fatal(err)
	}
	ok, rehash, err := directory.VerifyPassword(h, "bench-password")
	if err != nil || !ok || rehash {
		t.Fatalf("VerifyPassword(%q) = ok %v, rehash %v, %v; want ok without rehash", h, ok, rehash, err)
	}
	if ok, _, _ := directory.VerifyPassword(h, "wrong"); ok {
		t.Fatal("a wrong password verified")
	}
}

// treePSS counts this process (it has no children here): at least its own PSS, which
// is more than nothing for a running Go test binary.
func TestTreePSS(t *testing.T) {
	own := pssOf(os.Getpid())
	if own <= 0 {
		t.Fatal("no PSS in /proc/self/smaps_rollup")
	}
	if got := treePSS(os.Getpid()); got < own/2 {
		t.Fatalf("treePSS = %d, own PSS %d", got, own)
	}
}
