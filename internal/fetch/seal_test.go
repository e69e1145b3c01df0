package fetch_test

import (
	"bytes"
	"testing"

	"mailgrid/internal/fetch"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, fetch.KeySize)
	s1, err := fetch.Seal(key, "pässword")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := fetch.Seal(key, "pässword")
	if err != nil || bytes.Equal(s1, s2) || bytes.Contains(s1, []byte("ssword")) {
		t.Fatalf("sealing is not randomised or not secret: %v", err)
	}
	if pw, err := fetch.Open(key, s1); err != nil || pw != "pässword" {
		t.Fatalf("Open: %q %v", pw, err)
	}
	other := bytes.Repeat([]byte{8}, fetch.KeySize)
	if _, err := fetch.Open(other, s1); err == nil {
		t.Fatal("opened with another key")
	}
	s1[len(s1)-1] ^= 1
	if _, err := fetch.Open(key, s1); err == nil {
		t.Fatal("opened a tampered secret")
	}
	if _, err := fetch.Seal(key[:16], "x"); err == nil {
		t.Fatal("sealed with a short key")
	}
}
