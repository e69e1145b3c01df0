package imapserver_test

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
)

// TestCornersPython runs testdata/python/corners.py: APPEND keeps its date-time's zone,
// RENAME INBOX moves the messages and leaves INBOX, LSUB "%" shows an unsubscribed
// parent as \Noselect, all through Python's imaplib.
func TestCornersPython(t *testing.T) {
	py := needTool(t, "python3")
	w := newWorld(t)
	w.deliver(t, w.user, "INBOX", "Subject: one\n\nfirst\n")
	w.deliver(t, w.user, "INBOX", "Subject: two\n\nsecond\n")
	_, addr := w.server(t, nil)
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/python/corners.py", "127.0.0.1", port).CombinedOutput()
	if err != nil {
		t.Fatalf("corners.py: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestRenameInboxSelected: a session with INBOX selected sees the moved messages
// expunged, and the new mailbox holds them with their flags.
func TestRenameInboxSelected(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, w.user, "INBOX", "Subject: one\n\nfirst\n", `\Flagged`)
	w.deliver(t, w.user, "INBOX", "Subject: two\n\nsecond\n")
	_, addr := w.server(t, nil)
	watcher := login(t, addr)
	watcher.ok("SELECT INBOX")
	c := login(t, addr)
	c.ok("RENAME INBOX Saved")
	if u := watcher.ok("NOOP"); !contains(u, "* 2 EXPUNGE") && !contains(u, "* 1 EXPUNGE") {
		t.Errorf("selected INBOX saw no expunge: %q", u)
	}
	u := c.ok("SELECT Saved")
	if !contains(u, "* 2 EXISTS") {
		t.Errorf("SELECT Saved: %q", u)
	}
	if u := c.ok("FETCH 1 (FLAGS)"); !contains(u, `\Flagged`) {
		t.Errorf("flags not kept: %q", u)
	}
	if _, st := c.cmd("RENAME INBOX INBOX"); !strings.HasPrefix(st, "NO [ALREADYEXISTS]") {
		t.Errorf("RENAME INBOX INBOX: %s", st)
	}
}

// TestBinaryUnknownCTE: BINARY of a part whose Content-Transfer-Encoding the server
// cannot decode is NO [UNKNOWN-CTE] (RFC 3516 4.3); the same message's other parts and
// BODY[] of it are served.
func TestBinaryUnknownCTE(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, w.user, "INBOX", "Subject: uu\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"+
		"--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n"+
		"--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n`\nend\n--b--\n")
	_, addr := w.server(t, nil)
	c := login(t, addr)
	c.ok("SELECT INBOX")
	for _, item := range []string{"BINARY[2]", "BINARY.PEEK[2]", "BINARY.SIZE[2]"} {
		if _, st := c.cmd("FETCH 1 " + item); !strings.HasPrefix(st, "NO [UNKNOWN-CTE]") {
			t.Errorf("FETCH %s: %s, want NO [UNKNOWN-CTE]", item, st)
		}
	}
	if u := c.ok("FETCH 1 BINARY.PEEK[1]"); !contains(u, "hello") {
		t.Errorf("BINARY[1]: %q", u)
	}
	if u := c.ok("FETCH 1 BODY.PEEK[2]"); !contains(u, "begin 644 x") {
		t.Errorf("BODY[2]: %q", u)
	}
}
