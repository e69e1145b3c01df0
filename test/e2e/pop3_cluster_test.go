package e2e

import (
	"strings"
	"testing"

	"mailgrid/internal/testkit/pgtest"
)

// popLockScript (Python poplib, a client we did not write) logs in on node A and marks
// message 1 deleted; while A's session is open, logs in on node B and on node A again,
// printing each answer; then QUITs A and logs in on B, printing STAT.
const popLockScript = `
import poplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def login(addr):
    host, port = addr.rsplit(":", 1)
    p = poplib.POP3(host, int(port), timeout=30)
    p.stls(context=ctx)
    p.user(sys.argv[3])
    try:
        p.pass_(sys.argv[4])
    except poplib.error_proto as e:
        p.quit()
        return None, e.args[0].decode()
    return p, "+OK"
a, r = login(sys.argv[1]); print("A", r)
a.dele(1)
_, r = login(sys.argv[2]); print("B-while-A", r)
_, r = login(sys.argv[1]); print("A-while-A", r)
a.quit()
b, r = login(sys.argv[2]); print("B-after-quit", r)
print("STAT", b.stat()[0])
b.quit()
`

// TestPOP3ClusterLock: one POP3 session per maildrop across the cluster (RFC 1939 8).
// Two cluster nodes on one shard: a poplib session on node 1 holds alice's maildrop, so
// a login on node 2 (and a second one on node 1) gets "-ERR [IN-USE]" (RFC 2449 8.1.2);
// after node 1's QUIT, node 2 gets in and sees node 1's deletion.
func TestPOP3ClusterLock(t *testing.T) {
	requireTool(t, "python3")
	requireTool(t, "swaks")
	dirDSN, s1 := pgtest.DSN(t), pgtest.DSN(t)
	n1 := NewClusterNode(t, "n1", dirDSN, NodeOptions{})
	n2 := NewClusterNode(t, "n2", dirDSN, NodeOptions{})
	n1.CLI("", "shard", "add", "s1", "--dsn", s1, "--capacity", "100")
	StartAll(t, n1, n2)
	n1.AddUser("alice@example.test", "alice-password")
	for _, subj := range []string{"one", "two"} {
		if out := swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n1.SMTP,
			"--header", "Subject: "+subj); !accepted(out) {
			t.Fatalf("node 1 did not accept:\n%s", out)
		}
	}

	out, err := runPython(popLockScript, n1.POP3, n2.POP3, "alice@example.test", "alice-password")
	if err != nil {
		t.Fatalf("poplib: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, " ")
		got[k] = v
	}
	if got["A"] != "+OK" || got["B-after-quit"] != "+OK" || got["STAT"] != "1" ||
		!strings.HasPrefix(got["B-while-A"], "-ERR [IN-USE]") || !strings.HasPrefix(got["A-while-A"], "-ERR [IN-USE]") {
		t.Fatalf("POP3 sessions on two nodes:\n%s", out)
	}
	if left := n2.usedMessages("alice@example.test"); left != 1 {
		t.Fatalf("%d messages left, want 1", left)
	}
}
