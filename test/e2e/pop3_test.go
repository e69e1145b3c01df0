package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// popScript retrieves and deletes every message over POP3 with STLS (Python poplib, a
// client we did not write) and prints each message's Subject.
const popScript = `
import poplib, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3(host, int(port), timeout=30)
p.stls(context=ctx)
p.user(sys.argv[2]); p.pass_(sys.argv[3])
count, _ = p.stat()
for i in range(1, count + 1):
    _, lines, _ = p.retr(i)
    for l in lines:
        if l.lower().startswith(b"subject:"):
            print(l.decode())
    p.dele(i)
p.quit()
`

// TestPOP3AfterSMTP: mail delivered on the MX is retrieved with poplib over STLS from the
// same binary, and the POP3 deletion reaches the store.
func TestPOP3AfterSMTP(t *testing.T) {
	requireTool(t, "python3")
	n := NewNode(t, "p", NodeOptions{})
	n.Start()
	n.AddUser("alice@example.test", "alice-password")
	swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n.SMTP, "--header", "Subject: first")
	swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n.SMTP, "--header", "Subject: second")
	out, err := exec.Command("python3", "-c", popScript, n.POP3, "alice@example.test", "alice-password").CombinedOutput()
	if err != nil {
		t.Fatalf("poplib: %v\n%s", err, out)
	}
	if got := strings.Fields(strings.ReplaceAll(string(out), "Subject:", "")); strings.Join(got, ",") != "first,second" {
		t.Fatalf("retrieved subjects %q", out)
	}
	if left := n.usedMessages("alice@example.test"); left != 0 {
		t.Fatalf("%d messages left after DELE+QUIT", left)
	}
}
