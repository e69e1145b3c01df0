package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestFirstStartAndAdministration walks an operator's first session: start with no
// users, the admin account printed once, domains, users and aliases from the CLI (also
// while the server runs), errors as one line with exit status 1, and a clean SIGTERM.
func TestFirstStartAndAdministration(t *testing.T) {
	n := NewNode(t, "a", NodeOptions{})
	n.Start()
	if !strings.Contains(n.Output(), "created the system administrator admin@a.mailgrid.test") {
		t.Fatalf("first start did not announce the admin account:\n%s", n.Output())
	}

	n.CLI("", "domain", "add", "Example.TEST", "--max-users", "2", "--max-quota", "10M")
	n.CLI("", "domain", "add", "bücher.example")
	var domains []struct {
		Name     string `json:"name"`
		Unicode  string `json:"unicode"`
		MaxUsers int    `json:"max_users"`
		Accounts int    `json:"accounts"`
	}
	n.JSON(&domains, "domain", "list")
	names := map[string]int{}
	for _, d := range domains {
		names[d.Name] = d.MaxUsers
	}
	if names["example.test"] != 2 || len(domains) != 3 {
		t.Fatalf("domains: %+v", domains)
	}
	if _, ok := names["xn--bcher-kva.example"]; !ok {
		t.Fatalf("IDN domain not stored in A-label form: %+v", domains)
	}

	n.CLI("pw-alice-1\n", "user", "add", "alice@example.test", "--password-stdin")
	n.CLI("pw-bob-1\n", "user", "add", "Bob@EXAMPLE.test", "--password-stdin", "--quota", "1M")
	var users []struct {
		Address    string `json:"address"`
		QuotaBytes int64  `json:"quota_bytes"`
		Shard      string `json:"shard"`
	}
	n.JSON(&users, "user", "list", "example.test")
	if len(users) != 2 || users[0].Shard != "local" {
		t.Fatalf("users: %+v", users)
	}
	for _, u := range users {
		if u.Address == "alice@example.test" && u.QuotaBytes != 10<<20 {
			t.Errorf("alice's quota %d, want the domain maximum %d", u.QuotaBytes, 10<<20)
		}
	}

	// Errors: one line on stderr, exit status 1, nothing changed.
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"pw\n", []string{"user", "add", "carol@example.test", "--password-stdin"}, "limit"},
		{"pw\n", []string{"user", "add", "dave@nosuch.test", "--password-stdin"}, "not found"},
		{"pw\n", []string{"user", "add", "alice@example.test", "--password-stdin"}, "exists"},
		{"", []string{"user", "add", "x%y@example.test", "--password-stdin"}, "routing"},
		{"", []string{"domain", "add", "not a domain"}, "invalid domain"},
		{"", []string{"domain", "del", "example.test"}, "accounts"},
		{"", []string{"user", "show", "nobody@example.test"}, "not found"},
	} {
		out, errOut, err := n.TryCLI(tc.stdin, tc.args...)
		var ee *exec.ExitError
		if err == nil || !asExit(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("%v: want exit 1, got %v (stdout %q)", tc.args, err, out)
			continue
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if len(lines) != 1 || !strings.Contains(strings.ToLower(lines[0]), tc.want) {
			t.Errorf("%v: stderr %q, want one line containing %q", tc.args, errOut, tc.want)
		}
	}
	n.JSON(&users, "user", "list", "example.test")
	if len(users) != 2 {
		t.Fatalf("a failed command changed the accounts: %+v", users)
	}

	n.CLI("", "alias", "add", "team@example.test", "alice@example.test", "bob@example.test")
	n.CLI("", "alias", "add", "@example.test", "alice@example.test")
	var aliases []struct {
		Source  string   `json:"source"`
		Targets []string `json:"targets"`
	}
	n.JSON(&aliases, "alias", "list", "example.test")
	if len(aliases) != 2 {
		t.Fatalf("aliases: %+v", aliases)
	}
	n.CLI("", "alias", "del", "@example.test")
	n.CLI("pw-bob-2\n", "user", "passwd", "bob@example.test", "--password-stdin")
	n.CLI("", "user", "quota", "bob@example.test", "--bytes", "2M")
	n.CLI("", "user", "del", "bob@example.test")
	n.JSON(&users, "user", "list", "example.test")
	if len(users) != 1 || users[0].Address != "alice@example.test" {
		t.Fatalf("after del: %+v", users)
	}

	if err := n.Term(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, n.Output())
	}
	// The second start creates no second administrator and prints no password.
	n.Start()
	if c := strings.Count(n.Output(), "created the system administrator"); c != 0 {
		t.Fatalf("second start announced the admin again:\n%s", n.Output())
	}
}

func asExit(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// TestGeneratedAdminPassword: without MAILGRID_ADMIN_PASSWORD the first start prints a
// random password once.
func TestGeneratedAdminPassword(t *testing.T) {
	n := NewNode(t, "g", NodeOptions{})
	cmd := exec.Command(binary, "serve", "--config", n.ConfigFile)
	cmd.Env = append(os.Environ(), "MAILGRID_ADMIN_PASSWORD=")
	out, err := startAndStop(t, cmd, n.SMTP)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	i := strings.Index(out, "shown only this once): ")
	if i < 0 {
		t.Fatalf("no password printed:\n%s", out)
	}
	pw := strings.Fields(out[i+len("shown only this once): "):])[0]
	if len(pw) < 20 {
		t.Fatalf("weak generated password %q", pw)
	}
	var u []struct {
		Role string `json:"role"`
	}
	n.JSON(&u, "user", "show", "admin@g.mailgrid.test")
	if u[0].Role != "system-admin" {
		t.Fatalf("admin role %q", u[0].Role)
	}
	var al []json.RawMessage
	n.JSON(&al, "alias", "list", "g.mailgrid.test")
	if len(al) != 1 || !strings.Contains(string(al[0]), "postmaster@g.mailgrid.test") {
		t.Fatalf("postmaster alias: %s", fmt.Sprint(al))
	}
}
