package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/testkit/pgtest"
)

// accountEndScript opens, as one user, an IMAPS session idling with INBOX selected, one
// idling with nothing selected, and a POP3S session that marked message 1 deleted
// (Python imaplib and poplib, clients we did not write); prints READY, then for each
// session the last line the server sent on its own and whether the connection closed
// after it. Its socket timeout bounds every wait.
const accountEndScript = `
import imaplib, poplib, ssl, sys
ihost, iport = sys.argv[1].rsplit(":", 1)
phost, pport = sys.argv[2].rsplit(":", 1)
user, pw = sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE

def idle(select):
    m = imaplib.IMAP4_SSL(ihost, int(iport), ssl_context=ctx, timeout=60)
    m.login(user, pw)
    if select:
        m.select("INBOX")
    m.send((m._new_tag().decode() + " IDLE\r\n").encode())
    if not m.readline().startswith(b"+"):
        sys.exit("no continuation for IDLE")
    return m

selected, unselected = idle(True), idle(False)
p = poplib.POP3_SSL(phost, int(pport), context=ctx, timeout=60)
p.user(user); p.pass_(pw)
p.dele(1)
print("READY", flush=True)

for name, m in (("selected", selected), ("unselected", unselected)):
    line = m.readline().decode().strip()
    while line and not line.startswith("* BYE"):
        line = m.readline().decode().strip()
    print("IMAP", name, line, "closed" if m.readline() == b"" else "open", flush=True)
line = p.file.readline().decode().strip()
print("POP3", line, "closed" if p.file.readline() == b"" else "open", flush=True)
`

// TestAccountEndEndsSessions: mailgrid user del and mailgrid user disable, run from the
// command line (another process than the server), end the user's open sessions at once:
// both IMAP sessions get an untagged BYE saying why and are closed, the POP3 session
// gets -ERR saying why and is closed without UPDATE (after a disable and enable, the
// message it marked deleted is still there).
func TestAccountEndEndsSessions(t *testing.T) {
	requireTool(t, "python3")
	requireTool(t, "swaks")
	n := NewNode(t, "end", NodeOptions{})
	n.Start()
	for _, tc := range []struct{ op, why string }{{"disable", "disabled"}, {"del", "deleted"}} {
		t.Run(tc.op, func(t *testing.T) {
			addr := "u" + tc.op + "@end.test"
			n.AddUser(addr, "end-password-1")
			swaks(t, "--to", addr, "--from", "x@elsewhere.test", "--server", n.SMTP, "--header", "Subject: kept")
			lines := runAccountEnd(t, n, addr, func() { n.CLI("", "user", tc.op, addr) })
			for i, prefix := range []string{"IMAP selected * BYE ", "IMAP unselected * BYE ", "POP3 -ERR "} {
				if i >= len(lines) || !strings.HasPrefix(lines[i], prefix) || !strings.Contains(lines[i], tc.why) ||
					!strings.HasSuffix(lines[i], " closed") {
					t.Errorf("line %d: %q, want %q... saying %q, then closed (all: %q)", i, at(lines, i), prefix, tc.why, lines)
				}
			}
			if tc.op == "disable" {
				n.CLI("", "user", "enable", addr)
				var users []struct {
					UsedMessages int64 `json:"used_messages"`
				}
				n.JSON(&users, "user", "show", addr)
				if len(users) != 1 || users[0].UsedMessages != 1 {
					t.Errorf("after the POP3 session's end: %+v, want the one message kept (no UPDATE)", users)
				}
			}
		})
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return ""
}

// runAccountEnd runs accountEndScript for user, calls end once it is READY and returns
// the lines it printed after READY.
func runAccountEnd(t *testing.T, n *Node, user string, end func()) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", accountEndScript, n.IMAPS, n.POP3S, user, "end-password-1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "READY" {
		t.Fatalf("script not ready: %q %v\n%s", sc.Text(), cmd.Wait(), stderr.String())
	}
	end()
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("script: %v\n%s", err, stderr.String())
	}
	return lines
}

// TestAccountEndEndsSessionsCluster: in a cluster, mailgrid user disable and user del run
// against node 1 end the user's IMAP and POP3 sessions on node 2 at once (the
// announcement crosses nodes through the shard's notifications).
func TestAccountEndEndsSessionsCluster(t *testing.T) {
	requireTool(t, "python3")
	requireTool(t, "swaks")
	dirDSN, s1 := pgtest.DSN(t), pgtest.DSN(t)
	n1 := NewClusterNode(t, "n1", dirDSN, NodeOptions{})
	n2 := NewClusterNode(t, "n2", dirDSN, NodeOptions{})
	n1.CLI("", "shard", "add", "s1", "--dsn", s1, "--capacity", "100")
	StartAll(t, n1, n2)
	for _, tc := range []struct{ op, why string }{{"disable", "disabled"}, {"del", "deleted"}} {
		addr := "c" + tc.op + "@end.test"
		n1.AddUser(addr, "end-password-1")
		if out := swaks(t, "--to", addr, "--from", "x@elsewhere.test", "--server", n1.SMTP); !accepted(out) {
			t.Fatalf("node 1 did not accept:\n%s", out)
		}
		lines := runAccountEnd(t, n2, addr, func() { n1.CLI("", "user", tc.op, addr) })
		for i, prefix := range []string{"IMAP selected * BYE ", "IMAP unselected * BYE ", "POP3 -ERR "} {
			if i >= len(lines) || !strings.HasPrefix(lines[i], prefix) || !strings.Contains(lines[i], tc.why) ||
				!strings.HasSuffix(lines[i], " closed") {
				t.Errorf("%s, line %d: %q, want %q... saying %q, then closed (all: %q)", tc.op, i, at(lines, i), prefix, tc.why, lines)
			}
		}
	}
}
