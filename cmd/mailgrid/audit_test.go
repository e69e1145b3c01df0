package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// run runs one CLI command against the data directory dir and returns its stdout.
func run(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(strings.NewReader(stdin), &out, &errOut)
	root.SetArgs(append([]string{"--data", dir}, args...))
	if err := root.Execute(); err != nil {
		t.Fatalf("mailgrid %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// Every change made through the CLI lands in the audit log (via "cli"), and `audit`
// finds it by domain, action prefix and text.
func TestCLIChangesAreAudited(t *testing.T) {
	dir := t.TempDir()
	run(t, dir, "", "domain", "add", "audit.test")
	run(t, dir, "", "domain", "add", "other.test")
	run(t, dir, "pw-12345678\n", "user", "add", "alice@audit.test", "--password-stdin")
	run(t, dir, "", "user", "quota", "alice@audit.test", "--bytes", "50M")
	run(t, dir, "", "user", "disable", "alice@audit.test")
	run(t, dir, "", "alias", "add", "info@audit.test", "alice@audit.test")
	run(t, dir, "", "alias", "del", "info@audit.test")
	run(t, dir, "", "domain", "set", "audit.test", "--disable", "pop3")
	run(t, dir, "", "user", "del", "alice@audit.test")

	var es []auditView
	if err := json.Unmarshal([]byte(run(t, dir, "", "--json", "audit", "--domain", "audit.test")), &es); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range es {
		if e.Via != "cli" || e.Actor != "cli" || e.Domain != "audit.test" {
			t.Errorf("entry %+v: want actor and via cli, domain audit.test", e)
		}
		actions = append(actions, e.Action)
	}
	slices.Reverse(actions) // newest first
	want := []string{"domain.create", "account.create", "account.update", "account.update",
		"alias.create", "alias.delete", "domain.update", "account.delete"}
	if !slices.Equal(actions, want) {
		t.Fatalf("actions %v, want %v", actions, want)
	}
	if err := json.Unmarshal([]byte(run(t, dir, "", "--json", "audit", "--action", "account.", "--text", "alice")), &es); err != nil {
		t.Fatal(err)
	}
	if len(es) != 4 {
		t.Fatalf("account.* entries about alice: %d, want 4: %+v", len(es), es)
	}
	if out := run(t, dir, "", "audit", "--domain", "other.test"); !strings.Contains(out, "domain.create") || strings.Contains(out, "alice") {
		t.Fatalf("other.test's log:\n%s", out)
	}
}
