package imapserver_test

import (
	"bufio"
	"crypto/tls"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDialogs replays the golden protocol dialogs in testdata/dialogs. A dialog is a
// script of lines:
//
//	# comment
//	C: <line>             the client sends line + CRLF
//	S: <line>             the server's next line must be exactly this; "{*}" matches
//	                      any text, so variable parts (capability lists) stay readable
//	!starttls             TLS handshake (after the server's OK to STARTTLS)
//	!login                STARTTLS and LOGIN as user@local.test, responses not shown
//	!deliver MBOX FILE    store testdata/messages/FILE in MBOX through the store
//	!conn NAME            switch to connection NAME (opened and greeted on first use)
//
// Every dialog starts on connection "main" of a fresh world.
func TestDialogs(t *testing.T) {
	files, err := filepath.Glob("testdata/dialogs/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dialogs: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			t.Parallel()
			runDialog(t, f)
		})
	}
}

func runDialog(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	_, addr := w.server(t, nil)
	conns := map[string]*client{}
	open := func(name string) *client {
		if c, ok := conns[name]; ok {
			return c
		}
		c := dial(t, addr)
		conns[name] = c
		return c
	}
	cur := open("main")
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		where := func() string { return file + ":" + itoa(i+1) }
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "C: "):
			cur.send(line[3:] + "\r\n")
		case strings.HasPrefix(line, "S: "):
			got := rawLine(t, cur, where())
			if !matchLine(line[3:], got) {
				if os.Getenv("IMAP_DIALOG_SHOW") != "" { // while writing a dialog: show all
					t.Errorf("%s:\n got S: %s\nwant S: %s", where(), got, line[3:])
					continue
				}
				t.Fatalf("%s: got %q, want %q", where(), got, line[3:])
			}
		case line == "!starttls":
			tc := tls.Client(cur.conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test
			if err := tc.Handshake(); err != nil {
				t.Fatalf("%s: %v", where(), err)
			}
			cur.conn, cur.r = tc, bufio.NewReader(tc)
		case line == "!login":
			cur.startTLS()
			cur.ok("LOGIN user@local.test user-password")
		case strings.HasPrefix(line, "!deliver "):
			f := strings.Fields(line)
			msg, err := os.ReadFile(filepath.Join("testdata/messages", f[2]))
			if err != nil {
				t.Fatalf("%s: %v", where(), err)
			}
			w.deliver(t, w.user, f[1], string(msg))
		case strings.HasPrefix(line, "!conn "):
			cur = open(strings.TrimSpace(line[6:]))
		default:
			t.Fatalf("%s: bad dialog line %q", where(), line)
		}
	}
	for name, c := range conns {
		if err := c.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if extra, err := c.r.ReadString('\n'); err == nil {
			t.Errorf("connection %s: unexpected response %q after the dialog", name, extra)
		}
	}
}

// rawLine reads one CRLF line, literal contents included as lines.
func rawLine(t *testing.T, c *client, where string) string {
	t.Helper()
	if err := c.conn.SetReadDeadline(time.Now().Add(deadline)); err != nil {
		t.Fatal(err)
	}
	l, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: read: %v (partial %q)", where, err, l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func matchLine(pattern, got string) bool {
	if !strings.Contains(pattern, "{*}") {
		return pattern == got
	}
	parts := strings.Split(pattern, "{*}")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(got)
}

func itoa(n int) string { return strconvItoa(n) }
