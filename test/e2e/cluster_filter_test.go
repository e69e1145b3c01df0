package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/testkit/pgtest"
)

// TestClusterFilterState: the filter state lives in the directory database, shared by
// every node. A Sieve script uploaded and activated with sieve-connect (Debian's
// ManageSieve client) on node 1 is listed by node 3's ManageSieve and files mail that
// node 2 receives over SMTP (read back over IMAPS on node 3). A domain rule added with
// node 1's CLI quarantines a message on node 2; node 3's CLI lists it and node 1's
// releases it into the mailbox; a sender blocked with node 3's CLI gets 550 from node 2
// during the session.
func TestClusterFilterState(t *testing.T) {
	requireTool(t, "python3")
	requireTool(t, "swaks")
	sieveConnect := requireTool(t, "sieve-connect")
	dirDSN, s1 := pgtest.DSN(t), pgtest.DSN(t)
	n1 := NewClusterNode(t, "n1", dirDSN, NodeOptions{})
	n2 := NewClusterNode(t, "n2", dirDSN, NodeOptions{})
	n3 := NewClusterNode(t, "n3", dirDSN, NodeOptions{})
	n1.CLI("", "shard", "add", "s1", "--dsn", s1, "--capacity", "100")
	StartAll(t, n1, n2, n3)
	n1.AddUser("alice@example.test", "alice-password")
	// The policy first: nodes cache a domain's rules and block list for a few seconds
	// once read, and none has read example.test's yet.
	n1.CLI("", "rule", "add", "hold", "--domain", "example.test", "--if", "subject contains hold me",
		"--action", "quarantine", "--arg", "held for review")
	n3.CLI("", "block", "add", "sender", "spammer@bad.test", "--domain", "example.test")

	// Sieve: upload and activate on node 1, list on node 3.
	dir := t.TempDir()
	script := filepath.Join(dir, "rules.sieve")
	if err := os.WriteFile(script, []byte("require \"fileinto\";\nif header :contains \"subject\" \"report\" {\n  fileinto \"Archive\";\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	manageSieve(t, sieveConnect, n1, dir, "--upload", "--localsieve", script, "--remotesieve", "rules")
	manageSieve(t, sieveConnect, n1, dir, "--activate", "--remotesieve", "rules")
	if out := manageSieve(t, sieveConnect, n3, dir, "--list"); !strings.Contains(out, "rules") {
		t.Fatalf("node 3's ManageSieve lists %q", out)
	}

	// Delivery on node 2 runs the script.
	for _, subject := range []string{"monthly report", "hello"} {
		if out := swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n2.SMTP,
			"--header", "Subject: "+subject); !accepted(out) {
			t.Fatalf("node 2 did not accept %q:\n%s", subject, out)
		}
	}
	if got := clusterSubjects(t, n3, "Archive"); got != "monthly report" {
		t.Fatalf("Archive on node 3: %q\n%s", got, n2.Output())
	}
	if got := clusterSubjects(t, n3, "INBOX"); got != "hello" {
		t.Fatalf("INBOX on node 3: %q", got)
	}

	clusterQuarantineAndBlocks(t, n1, n2, n3)
	for _, n := range []*Node{n1, n2, n3} {
		if err := n.Term(); err != nil {
			t.Errorf("%v\n%s", err, n.Output())
		}
	}
}

// clusterQuarantineAndBlocks: the domain rule added with node 1's CLI quarantines mail
// node 2 receives; node 3's CLI lists the held copy, node 1's releases it into the
// mailbox; the block-list entry added with node 3's CLI makes node 2 refuse the sender.
func clusterQuarantineAndBlocks(t *testing.T, n1, n2, n3 *Node) {
	t.Helper()
	if out := swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n2.SMTP,
		"--header", "Subject: please hold me"); !accepted(out) {
		t.Fatalf("node 2 did not accept the message to hold:\n%s", out)
	}
	var held []struct {
		ID     int64  `json:"id"`
		Rcpt   string `json:"rcpt"`
		Reason string `json:"reason"`
	}
	n3.JSON(&held, "quarantine", "list", "--domain", "example.test")
	if len(held) != 1 || held[0].Rcpt != "alice@example.test" || !strings.Contains(held[0].Reason, "held for review") {
		t.Fatalf("quarantine on node 3: %+v\n%s", held, n2.Output())
	}
	if got := clusterSubjects(t, n3, "INBOX"); got != "hello" {
		t.Fatalf("INBOX on node 3 with the message held: %q", got)
	}
	n1.CLI("", "quarantine", "release", "example.test", strconv.FormatInt(held[0].ID, 10))
	if got := clusterSubjects(t, n3, "INBOX"); got != "hello,please hold me" {
		t.Fatalf("INBOX on node 3 after the release on node 1: %q", got)
	}
	n2.JSON(&held, "quarantine", "list")
	if len(held) != 0 {
		t.Fatalf("quarantine after the release: %+v", held)
	}

	out, _ := exec.Command("swaks", "--timeout", "30", "--to", "alice@example.test", "--from", "spammer@bad.test",
		"--server", n2.SMTP, "--header", "Subject: blocked").CombinedOutput()
	if !strings.Contains(string(out), "<** 550") || accepted(string(out)) {
		t.Fatalf("blocked sender on node 2:\n%s", out)
	}
}

// manageSieve runs sieve-connect against node n's ManageSieve as alice and returns its
// output.
func manageSieve(t *testing.T, bin string, n *Node, dir string, args ...string) string {
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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host, port, _ := strings.Cut(n.ManageSieve, ":")
	cmd := exec.CommandContext(ctx, bin, append([]string{"--server", host, "--port", port, "--user", "alice@example.test",
		"--passwordfd", "3", "--authmech", "PLAIN", "--tlscafile", filepath.Join(n.Dir, "data", "tls", "cert.pem"),
		"--tlshostname", "localhost", "--noclearauth"}, args...)...)
	cmd.ExtraFiles = []*os.File{pw}
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sieve-connect %v on %s: %v\n%s", args, n.Name, err, out)
	}
	return string(out)
}

// clusterSubjectsScript logs in over IMAPS and prints the subjects of mailbox argv[4],
// comma-separated, in UID order.
const clusterSubjectsScript = `
import imaplib, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=30)
m.login(sys.argv[2], sys.argv[3])
typ, data = m.select('"%s"' % sys.argv[4], readonly=True)
if typ != "OK":
    sys.exit("SELECT %s: %r" % (sys.argv[4], data))
subjects = []
if int(data[0]) > 0:
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    for item in data:
        if isinstance(item, tuple):
            subjects.append(item[1].decode().strip().split(":", 1)[1].strip())
print(",".join(subjects))
m.logout()
`

// clusterSubjects returns the subjects of alice's mailbox on node n, comma-separated.
func clusterSubjects(t *testing.T, n *Node, mailbox string) string {
	t.Helper()
	out, err := runPython(clusterSubjectsScript, n.IMAPS, "alice@example.test", "alice-password", mailbox)
	if err != nil {
		t.Fatalf("imaplib on %s, %s: %v\n%s", n.Name, mailbox, err, out)
	}
	return strings.TrimSpace(out)
}
