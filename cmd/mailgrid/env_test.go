package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "": 0, "unlimited": 0, "1234": 1234, "10K": 10 << 10, "50M": 50 << 20, "2G": 2 << 30, "1t": 1 << 40,
	} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1", "M", "1.5G", "ten", "5X"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for _, c := range []struct {
		n    int64
		zero bool
		want string
	}{{0, true, "unlimited"}, {0, false, "0 B"}, {1023, false, "1023 B"}, {1536, false, "1.5 KiB"}, {50 << 20, true, "50.0 MiB"}} {
		if got := formatSize(c.n, c.zero); got != c.want {
			t.Errorf("formatSize(%d, %v) = %q, want %q", c.n, c.zero, got, c.want)
		}
	}
}

func TestPasswordStdin(t *testing.T) {
	e := &env{stdin: strings.NewReader("s3cret\r\nignored\n")}
	if pw, err := e.readPassword(true); err != nil || pw != "s3cret" {
		t.Fatalf("got %q, %v", pw, err)
	}
	e = &env{stdin: strings.NewReader("last-line-without-newline")}
	if pw, err := e.readPassword(true); err != nil || pw != "last-line-without-newline" {
		t.Fatalf("got %q, %v", pw, err)
	}
	e = &env{stdin: strings.NewReader("\n")}
	if _, err := e.readPassword(true); err == nil {
		t.Fatal("empty password accepted")
	}
	// Without --password-stdin and no terminal, the command refuses instead of hanging.
	e = &env{stdin: strings.NewReader("x\n"), stderr: &bytes.Buffer{}}
	if _, err := e.readPassword(false); err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Fatalf("want a hint to use --password-stdin, got %v", err)
	}
}

func TestUnknownConfigKeyIsOneLineError(t *testing.T) {
	var out, errOut bytes.Buffer
	root := newRoot(strings.NewReader(""), &out, &errOut)
	root.SetArgs([]string{"--config", "/nonexistent/mailgrid.toml", "domain", "list"})
	err := root.Execute()
	if err == nil || strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("want a one-line error, got %v", err)
	}
}
