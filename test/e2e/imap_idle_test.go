package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// idleScript logs in over IMAPS with Python imaplib, selects INBOX, sends IDLE itself
// (RFC 2177, RFC 9051 6.3.13) and prints every untagged line it receives until one says
// EXISTS, then ends IDLE with DONE. Its socket timeout bounds every wait.
const idleScript = `
import imaplib, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=60)
m.login(sys.argv[2], sys.argv[3])
typ, data = m.select("INBOX")
print("SELECTED", data[0].decode(), flush=True)
tag = m._new_tag().decode()
m.send((tag + " IDLE\r\n").encode())
line = m.readline().decode().strip()
if not line.startswith("+"):
    sys.exit("no continuation for IDLE: " + line)
print("IDLING", flush=True)
while True:
    line = m.readline().decode().strip()
    if not line:
        sys.exit("connection closed during IDLE")
    print("UNTAGGED", line, flush=True)
    if line.endswith(" EXISTS"):
        break
m.send(b"DONE\r\n")
while True:
    line = m.readline().decode().strip()
    if line.startswith(tag + " "):
        print("ENDED", line, flush=True)
        break
m.logout()
`

// TestIMAPIDLESeesSMTPDelivery: a client idling on INBOX over IMAPS is told "* 2 EXISTS"
// when a message is delivered on the MX by another connection (swaks), through the
// built binary's SMTP server, delivery pipeline, store and bus.
func TestIMAPIDLESeesSMTPDelivery(t *testing.T) {
	requireTool(t, "python3")
	requireTool(t, "swaks")
	n := NewNode(t, "idle", NodeOptions{})
	n.Start()
	n.AddUser("alice@example.test", "alice-password")
	swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n.SMTP, "--header", "Subject: before")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", idleScript, n.IMAPS, "alice@example.test", "alice-password")
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
	next := func(what string) string {
		t.Helper()
		l, ok := <-lines // bounded: the script's socket timeout and ctx end it
		if !ok {
			t.Fatalf("imaplib ended before %s: %v\nout: %q\nerr: %s\nserver:\n%s", what, cmd.Wait(), seen, stderr.String(), n.Output())
		}
		seen = append(seen, l)
		return l
	}
	if l := next("SELECT"); l != "SELECTED 1" {
		t.Fatalf("imaplib: %q, want SELECTED 1", l)
	}
	if l := next("IDLE"); l != "IDLING" {
		t.Fatalf("imaplib: %q, want IDLING", l)
	}
	swaks(t, "--to", "alice@example.test", "--from", "y@elsewhere.test", "--server", n.SMTP, "--header", "Subject: during idle")
	if l := next("EXISTS"); l != "UNTAGGED * 2 EXISTS" {
		t.Fatalf("imaplib during IDLE: %q, want the new message announced as \"* 2 EXISTS\"", l)
	}
	if l := next("DONE"); !strings.HasPrefix(l, "ENDED ") || !strings.Contains(l, " OK ") {
		t.Fatalf("imaplib after DONE: %q", l)
	}
	for range lines { // drain until the script exits
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("imaplib: %v\n%s", err, stderr.String())
	}
}
