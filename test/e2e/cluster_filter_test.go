package e2e

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/filter"
	filterpg "mailgrid/internal/filter/postgres"
	"mailgrid/internal/message/body"
	"mailgrid/internal/testkit/pgtest"
)

// TestClusterFilterState: the filter state lives in the directory database, shared by
// every node. A Sieve script uploaded and activated with sieve-connect (Debian's
// ManageSieve client) on node 1 is listed by node 3's ManageSieve and files mail that
// node 2 receives over SMTP (read back over IMAPS on node 3). A domain rule and a block
// list entry written to the shared state (as an administrator's tool does; there is no
// CLI for them yet) apply on node 2 and node 3: a message node 2 quarantines is listed
// and read through another connection to the state, and is not in the mailbox; a
// blocked sender gets 550 from node 3 during the session.
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

	clusterQuarantineAndBlocks(t, dirDSN, n2, n3)
	for _, n := range []*Node{n1, n2, n3} {
		if err := n.Term(); err != nil {
			t.Errorf("%v\n%s", err, n.Output())
		}
	}
}

// clusterQuarantineAndBlocks: a domain rule and a block-list entry in the shared state
// apply on nodes 2 and 3; the copy node 2 quarantines is seen through another connection.
func clusterQuarantineAndBlocks(t *testing.T, dirDSN string, n2, n3 *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := filterpg.Open(ctx, dirDSN, filterpg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}()
	rule := filter.DomainRule{Domain: "example.test", Name: "hold", Enabled: true, Action: filter.ActionQuarantine, Arg: "held for review",
		Conditions: []filter.Condition{{Field: filter.FieldSubject, Op: filter.OpContains, Value: "hold me"}}}
	if err := rule.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutDomainRule(ctx, rule); err != nil {
		t.Fatal(err)
	}
	if out := swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n2.SMTP,
		"--header", "Subject: please hold me"); !accepted(out) {
		t.Fatalf("node 2 did not accept the message to hold:\n%s", out)
	}
	held, err := st.List(ctx, filter.QuarantineQuery{Domain: "example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || held[0].Rcpt.String() != "alice@example.test" || !strings.Contains(held[0].Reason, "held for review") {
		t.Fatalf("quarantine: %+v\n%s", held, n2.Output())
	}
	b, err := st.Open(ctx, "example.test", held[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := io.ReadAll(body.Reader(b))
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil || !strings.Contains(string(msg), "Subject: please hold me") {
		t.Fatalf("held body (%v):\n%s", err, msg)
	}
	if got := clusterSubjects(t, n3, "INBOX"); got != "hello" {
		t.Fatalf("INBOX on node 3 after the quarantine: %q", got)
	}
	if err := st.Delete(ctx, "example.test", held[0].ID); err != nil {
		t.Fatal(err)
	}

	v, err := filter.NormalizeBlock(filter.BlockSender, "spammer@bad.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddBlock(ctx, filter.BlockEntry{Domain: "example.test", Kind: filter.BlockSender, Value: v, Note: "e2e"}); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("swaks", "--timeout", "30", "--to", "alice@example.test", "--from", "spammer@bad.test",
		"--server", n3.SMTP, "--header", "Subject: blocked").CombinedOutput()
	if !strings.Contains(string(out), "<** 550") || accepted(string(out)) {
		t.Fatalf("blocked sender on node 3:\n%s", out)
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
