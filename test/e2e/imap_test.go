package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// imapScript logs in over IMAPS (Python imaplib, a client we did not write), lists
// INBOX's subjects and flags, marks the first message \Seen and prints what it saw.
const imapScript = `
import imaplib, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=30)
m.login(sys.argv[2], sys.argv[3])
typ, data = m.select("INBOX")
print("EXISTS", data[0].decode())
typ, data = m.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
for item in data:
    if isinstance(item, tuple):
        print("SUBJECT", item[1].decode().strip().split(":", 1)[1].strip())
m.uid("STORE", "1", "+FLAGS", "(\\Seen)")
typ, data = m.uid("SEARCH", None, "UNSEEN")
print("UNSEEN", data[0].decode())
m.logout()
`

// TestIMAPAfterSMTPAndPOP3: mail delivered on the MX is read over IMAPS; a message
// retrieved and deleted over POP3 is gone for IMAP too.
func TestIMAPAfterSMTPAndPOP3(t *testing.T) {
	requireTool(t, "python3")
	n := NewNode(t, "i", NodeOptions{})
	n.Start()
	n.AddUser("alice@example.test", "alice-password")
	for _, subj := range []string{"one", "two"} {
		swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n.SMTP, "--header", "Subject: "+subj)
	}
	out, err := exec.Command("python3", "-c", imapScript, n.IMAPS, "alice@example.test", "alice-password").CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{"EXISTS 2", "SUBJECT one", "SUBJECT two", "UNSEEN 2"} {
		if !strings.Contains(got, want) {
			t.Fatalf("imaplib saw:\n%s\nmissing %q", got, want)
		}
	}
	if out, err := exec.Command("python3", "-c", popScript, n.POP3, "alice@example.test", "alice-password").CombinedOutput(); err != nil {
		t.Fatalf("poplib: %v\n%s", err, out)
	}
	out, err = exec.Command("python3", "-c", imapScript, n.IMAPS, "alice@example.test", "alice-password").CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib after POP3: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "EXISTS 0") {
		t.Fatalf("IMAP still sees POP3-deleted mail:\n%s", out)
	}
}
