package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSieveThroughManageSieve: a user uploads and activates a Sieve script with
// sieve-connect (Debian's ManageSieve client) against the running binary; mail delivered
// on the MX afterwards is filed by it.
func TestSieveThroughManageSieve(t *testing.T) {
	bin := requireTool(t, "sieve-connect")
	n := NewNode(t, "s", NodeOptions{})
	n.Start()
	n.AddUser("alice@example.test", "alice-password")
	dir := t.TempDir()
	script := filepath.Join(dir, "rules.sieve")
	if err := os.WriteFile(script, []byte("require \"fileinto\";\nif header :contains \"subject\" \"report\" {\n  fileinto \"Archive\";\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(n.ManageSieve, ":")
	run := func(args ...string) {
		t.Helper()
		pw, err := os.CreateTemp(dir, "pw")
		if err != nil {
			t.Fatal(err)
		}
		defer pw.Close()
		if _, err := pw.WriteString("alice-password\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := pw.Seek(0, 0); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, append([]string{"--server", host, "--port", port, "--user", "alice@example.test",
			"--passwordfd", "3", "--authmech", "PLAIN", "--tlscafile", filepath.Join(n.Dir, "data", "tls", "cert.pem"),
			"--tlshostname", "localhost", "--noclearauth"}, args...)...)
		cmd.ExtraFiles = []*os.File{pw}
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sieve-connect %v: %v\n%s", args, err, out)
		}
	}
	run("--upload", "--localsieve", script, "--remotesieve", "rules")
	run("--activate", "--remotesieve", "rules")

	swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n.SMTP, "--header", "Subject: monthly report")
	swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n.SMTP, "--header", "Subject: hello")
	if err := n.Term(); err != nil {
		t.Fatal(err)
	}
	archive, inbox := n.Mailbox("alice@example.test", "Archive"), n.Mailbox("alice@example.test", "INBOX")
	if len(archive) != 1 || archive[0].Header.Get("Subject") != "monthly report" {
		t.Errorf("Archive: %d messages", len(archive))
	}
	if len(inbox) != 1 || inbox[0].Header.Get("Subject") != "hello" {
		t.Errorf("INBOX: %d messages", len(inbox))
	}
}
