package e2e

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// popLoginScript logs in over POP3 with STLS (Python poplib) and prints "ok N" with the
// maildrop's message count, or "refused <server reply>" when the login is refused.
const popLoginScript = `
import poplib, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3(host, int(port), timeout=30)
p.stls(context=ctx)
p.user(sys.argv[2])
try:
    p.pass_(sys.argv[3])
except poplib.error_proto as e:
    print("refused", e.args[0].decode())
    p.quit()
    sys.exit(0)
print("ok", p.stat()[0])
p.quit()
`

// popLogin runs popLoginScript against n and returns its one line of output.
func popLogin(t *testing.T, n *Node, user, pass string) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", popLoginScript, n.POP3, user, pass).CombinedOutput()
	if err != nil {
		t.Fatalf("poplib: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

const popRefused = "refused -ERR [SYS/PERM] POP3 access is disabled for this account"

// TestServiceSwitchesCLI: the operator switches POP3 off for one user, then for the whole
// domain, with the CLI while the server runs; Python poplib's next login is refused with
// [SYS/PERM] each time, and succeeds again once the switch is back on. The switches show in
// the CLI's JSON. Switching submission off makes swaks' AUTH fail.
func TestServiceSwitchesCLI(t *testing.T) {
	requireTool(t, "python3")
	n := NewNode(t, "svc", NodeOptions{})
	n.Start()
	n.AddUser("alice@example.test", "alice-password")
	n.AddUser("bob@example.test", "bob-password")
	swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n.SMTP, "--header", "Subject: one")
	if got := popLogin(t, n, "alice@example.test", "alice-password"); got != "ok 1" {
		t.Fatalf("POP3 login before any switch: %q", got)
	}

	n.CLI("", "user", "set", "alice@example.test", "--disable", "pop3,submission")
	var users []struct {
		Address          string   `json:"address"`
		DisabledServices []string `json:"disabled_services"`
	}
	n.JSON(&users, "user", "show", "alice@example.test")
	if len(users) != 1 || !slices.Equal(users[0].DisabledServices, []string{"pop3", "submission"}) {
		t.Fatalf("user show after --disable: %+v", users)
	}
	if got := popLogin(t, n, "alice@example.test", "alice-password"); got != popRefused {
		t.Fatalf("POP3 login with the account's switch off: %q", got)
	}
	if got := popLogin(t, n, "bob@example.test", "bob-password"); got != "ok 0" {
		t.Fatalf("another account of the domain: %q", got)
	}
	out, err := exec.Command(requireTool(t, "swaks"), "--timeout", "30", "--to", "bob@example.test",
		"--from", "alice@example.test", "--server", n.Submission, "--tls", "--auth", "PLAIN",
		"--auth-user", "alice@example.test", "--auth-password", "alice-password").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "535 5.7.8 Authentication refused: mail submission is disabled") {
		t.Fatalf("submission with the switch off: %v\n%s", err, out)
	}

	n.CLI("", "user", "set", "alice@example.test", "--enable", "pop3")
	if got := popLogin(t, n, "alice@example.test", "alice-password"); got != "ok 1" {
		t.Fatalf("POP3 login after --enable pop3: %q", got)
	}

	n.CLI("", "domain", "set", "example.test", "--disable", "pop3,imap")
	var domains []struct {
		DisabledServices []string `json:"disabled_services"`
	}
	n.JSON(&domains, "domain", "show", "example.test")
	if len(domains) != 1 || !slices.Equal(domains[0].DisabledServices, []string{"imap", "pop3"}) {
		t.Fatalf("domain show after --disable: %+v", domains)
	}
	for _, u := range [][2]string{{"alice@example.test", "alice-password"}, {"bob@example.test", "bob-password"}} {
		if got := popLogin(t, n, u[0], u[1]); got != popRefused {
			t.Fatalf("%s with the domain's switch off: %q", u[0], got)
		}
	}
	n.CLI("", "domain", "set", "example.test", "--enable", "pop3")
	if got := popLogin(t, n, "bob@example.test", "bob-password"); got != "ok 0" {
		t.Fatalf("POP3 login after the domain's --enable pop3: %q", got)
	}

	if _, errOut, err := n.TryCLI("", "user", "set", "alice@example.test", "--disable", "nntp"); err == nil || !strings.Contains(errOut, "unknown service") {
		t.Fatalf("unknown service accepted: %v %s", err, errOut)
	}
}
