package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"mailgrid/internal/filter/milter/miltertest"
)

// TestMilterAtRCPT: a [[filter.milter]] in the configuration (no stages key: every
// stage) answers at RCPT through the binary's MX: swaks hears the milter's own 550
// 5.1.1 for the recipient it refuses (an existing account), while a message to another
// recipient passes with the header the milter added at end of message.
func TestMilterAtRCPT(t *testing.T) {
	addr, _ := miltertest.Start(t)
	n := NewNode(t, "milt", NodeOptions{Extra: "[[filter.milter]]\nname = \"judge\"\naddress = \"tcp:" + addr + "\"\n"})
	n.Start()
	n.AddUser("alice@example.test", "alice-password")
	n.AddUser("nobody@example.test", "nobody-password")
	bin := requireTool(t, "swaks")
	out, err := exec.Command(bin, "--to", "nobody@example.test", "--from", "carol@sender.test", "--server", n.SMTP, "--timeout", "30").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "550 5.1.1 No such user (test milter)") {
		t.Fatalf("RCPT not refused with the milter's reply (err %v):\n%s", err, out)
	}
	if tr := swaks(t, "--to", "alice@example.test", "--from", "carol@sender.test", "--server", n.SMTP); !accepted(tr) {
		t.Fatalf("message to alice not accepted:\n%s", tr)
	}
	if err := n.Term(); err != nil {
		t.Fatal(err)
	}
	if msgs := n.Mailbox("alice@example.test", "INBOX"); len(msgs) != 1 || msgs[0].Header.Get("X-Test-Milter") != "checked" {
		t.Fatalf("alice's INBOX: %+v", msgs)
	}
	if msgs := n.Mailbox("nobody@example.test", "INBOX"); len(msgs) != 0 {
		t.Fatalf("nobody got %d messages", len(msgs))
	}
}
