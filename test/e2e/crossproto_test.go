package e2e

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// popExpungeScript holds an IMAPS session with INBOX selected (Python imaplib) while
// POP3S sessions (Python poplib) work on the same maildrop; both are clients we did not
// write. INBOX starts with pop-one, pop-two, pop-three. It prints "ok: ..." per check and
// exits non-zero on the first failed one. Its socket timeouts bound every wait.
//
//  1. IMAP idles (RFC 2177); POP3 DELE 1 and QUIT: the UPDATE state removes the message
//     (RFC 1939 6) and the idling session gets "* 1 EXPUNGE" (RFC 9051 7.5.1).
//  2. POP3 DELE 1, DELE 2 and the connection dropped without QUIT: nothing is removed
//     (RFC 1939 6: no UPDATE state). A new POP3 session (its login succeeds only once the
//     dropped one has ended: one session per maildrop, RFC 1939 8) still finds both, and
//     IMAP NOOP reports no EXPUNGE.
//  3. POP3 DELE 2 and QUIT: IMAP NOOP reports "* 2 EXPUNGE" in its response, and only it.
const popExpungeScript = `
import imaplib, poplib, ssl, sys, time
ihost, iport = sys.argv[1].rsplit(":", 1)
phost, pport = sys.argv[2].rsplit(":", 1)
user, pw = sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE

def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok:", what, flush=True)

def pop():
    # A login while a dropped session still holds the maildrop gets -ERR [IN-USE]
    # (RFC 2449 8.1.2): retry that one answer, a bounded number of times.
    for _ in range(400):
        p = poplib.POP3_SSL(phost, int(pport), context=ctx, timeout=60)
        p.user(user)
        try:
            p.pass_(pw)
            return p
        except poplib.error_proto as e:
            p.close()
            if b"[IN-USE]" not in e.args[0]:
                raise
            time.sleep(0.05)
    sys.exit("FAIL: the maildrop stayed in use")

def subject(p, n):
    _, lines, _ = p.top(n, 0)
    return [l for l in lines if l.lower().startswith(b"subject:")][0].split(b":", 1)[1].strip().decode()

m = imaplib.IMAP4_SSL(ihost, int(iport), ssl_context=ctx, timeout=60)
m.login(user, pw)
typ, data = m.select("INBOX")
check(typ == "OK" and data == [b"3"], "IMAP selected INBOX with 3 messages: %r" % data)

# 1. IDLE sees the expunge of a POP3 QUIT.
tag = m._new_tag().decode()
m.send((tag + " IDLE\r\n").encode())
line = m.readline()
check(line.startswith(b"+"), "IDLE continuation: %r" % line)
p = pop()
check(p.stat()[0] == 3, "POP3 maildrop has 3 messages")
check(subject(p, 1) == "pop-one", "POP3 message 1 is pop-one")
check(p.dele(1).startswith(b"+OK"), "POP3 DELE 1")
check(p.quit().startswith(b"+OK"), "POP3 QUIT (UPDATE)")
line = m.readline().strip()
check(line == b"* 1 EXPUNGE", "IMAP got the POP3 deletion while idling: %r" % line)
m.send(b"DONE\r\n")
line = m.readline().strip()
check(line.startswith(tag.encode() + b" OK"), "IDLE ended: %r" % line)

# 2. A dropped POP3 connection deletes nothing.
p = pop()
check(p.stat()[0] == 2, "POP3 maildrop has 2 messages")
check(p.dele(1).startswith(b"+OK") and p.dele(2).startswith(b"+OK"), "POP3 DELE 1, DELE 2")
p.close()  # the socket closed, no QUIT
p = pop()
check(p.stat()[0] == 2, "after the dropped session the maildrop still has 2 messages")
check([subject(p, 1), subject(p, 2)] == ["pop-two", "pop-three"], "both messages the dropped session marked are there")
check(p.quit().startswith(b"+OK"), "POP3 QUIT without DELE")
m.untagged_responses.pop("EXPUNGE", None)
typ, _ = m.noop()
exp = m.untagged_responses.pop("EXPUNGE", [])
check(typ == "OK" and exp == [], "IMAP NOOP reports no expunge after the dropped session: %r" % exp)

# 3. NOOP sees the expunge of a POP3 QUIT.
p = pop()
check(subject(p, 2) == "pop-three", "POP3 message 2 is pop-three")
check(p.dele(2).startswith(b"+OK"), "POP3 DELE 2")
check(p.quit().startswith(b"+OK"), "POP3 QUIT (UPDATE)")
typ, _ = m.noop()
exp = m.untagged_responses.pop("EXPUNGE", [])
check(typ == "OK" and exp == [b"2"], "IMAP NOOP response has * 2 EXPUNGE and no other: %r" % exp)
typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
got = [d[1].strip() for d in data if isinstance(d, tuple)]
check(typ == "OK" and got == [b"Subject: pop-two"], "IMAP INBOX now holds pop-two only: %r" % got)
m.logout()
print("PASS", flush=True)
`

// TestIMAPSeesPOP3Expunge: an IMAP session with INBOX selected sees a POP3 session's
// deletions as expunges once it QUITs (untagged EXPUNGE during IDLE, and in a NOOP
// response), and sees nothing from a POP3 connection dropped without QUIT; Python imaplib
// and poplib against the built binary, the messages delivered on its MX.
func TestIMAPSeesPOP3Expunge(t *testing.T) {
	requireTool(t, "python3")
	requireTool(t, "swaks")
	n := NewNode(t, "popexp", NodeOptions{})
	n.Start()
	n.AddUser("alice@example.test", "alice-password")
	for _, s := range []string{"pop-one", "pop-two", "pop-three"} {
		swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n.SMTP, "--header", "Subject: "+s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", popExpungeScript, n.IMAPS, n.POP3S,
		"alice@example.test", "alice-password").CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "PASS") {
		t.Fatalf("imaplib/poplib: %v\n%s\nserver:\n%s", err, out, n.Output())
	}
	t.Logf("%s", out)
	if got := n.usedMessages("alice@example.test"); got != 1 {
		t.Fatalf("the store holds %d messages for alice, want 1", got)
	}
}

// TestImapflowIDLESeesSMTPDelivery: imapflow (npm, pinned in test/imap-node) idles on
// INBOX over STARTTLS; when it says it is idling, swaks delivers a message on the built
// binary's MX from another connection, and imapflow must get the new EXISTS (RFC 2177,
// RFC 9051 7.4.1) and fetch that message's Subject (test/imap-node/client.mjs, mode
// idle-smtp).
func TestImapflowIDLESeesSMTPDelivery(t *testing.T) {
	node := requireTool(t, "node")
	requireTool(t, "swaks")
	dir, err := filepath.Abs("../imap-node")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "imapflow")); err != nil {
		npm := requireTool(t, "npm")
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	n := NewNode(t, "flowidle", NodeOptions{})
	n.Start()
	n.AddUser("user@local.test", "user-password") // client.mjs's account
	swaks(t, "--to", "user@local.test", "--from", "x@elsewhere.test", "--server", n.SMTP, "--header", "Subject: before idle")

	const subject = "delivered during imapflow idle"
	host, port, err := net.SplitHostPort(n.IMAP)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, "client.mjs", host, port, "idle-smtp", subject)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	idling := false
	for l := range lines { // bounded: the script's own timer and ctx end it
		seen = append(seen, l)
		if l == "IDLING" && !idling {
			idling = true
			swaks(t, "--to", "user@local.test", "--from", "y@elsewhere.test", "--server", n.SMTP, "--header", "Subject: "+subject)
		}
	}
	err = cmd.Wait()
	out := strings.Join(seen, "\n")
	if err != nil || !idling || !strings.Contains(out, "all imapflow idle-smtp checks passed") {
		t.Fatalf("imapflow: %v (idling %v)\nout:\n%s\nerr: %s\nserver:\n%s", err, idling, out, stderr.String(), n.Output())
	}
	t.Logf("%s", out)
}
