package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// runErr runs one CLI command and returns its error (nil when it succeeded).
func runErr(dir string, args ...string) error {
	var out, errOut bytes.Buffer
	root := newRoot(strings.NewReader(""), &out, &errOut)
	root.SetArgs(append([]string{"--data", dir}, args...))
	return root.Execute()
}

// A plan bounds the domains on it: assigning clamps the domain's limits and switches
// services off, changing the plan clamps again, and a plan in use cannot be deleted.
func TestPlanBoundsDomains(t *testing.T) {
	dir := t.TempDir()
	run(t, dir, "", "domain", "add", "shop.test", "--max-quota", "10G", "--max-users", "500")
	run(t, dir, "", "plan", "add", "basic", "--mailbox-quota", "2G", "--max-message-size", "25M",
		"--max-users", "50", "--disable", "pop3", "--sms=false")
	run(t, dir, "", "plan", "assign", "shop.test", "basic")

	var ds []domainView
	if err := json.Unmarshal([]byte(run(t, dir, "", "--json", "domain", "show", "shop.test")), &ds); err != nil || len(ds) != 1 {
		t.Fatalf("domain show: %v %v", ds, err)
	}
	d := ds[0]
	if d.Plan != "basic" {
		t.Fatalf("domain show: plan %q, want basic", d.Plan)
	}
	if d.MaxQuotaBytes != 2<<30 || d.MaxUsers != 50 || d.MaxMessageBytes != 25<<20 || strings.Join(d.DisabledServices, ",") != "pop3" {
		t.Fatalf("domain on plan basic: %+v", d)
	}

	run(t, dir, "", "plan", "set", "basic", "--mailbox-quota", "1G", "--disable", "imap")
	if err := json.Unmarshal([]byte(run(t, dir, "", "--json", "domain", "show", "shop.test")), &ds); err != nil {
		t.Fatal(err)
	}
	if ds[0].MaxQuotaBytes != 1<<30 || strings.Join(ds[0].DisabledServices, ",") != "imap,pop3" || ds[0].MaxUsers != 50 {
		t.Fatalf("domain after plan set: %+v", ds[0])
	}

	var ps []planView
	if err := json.Unmarshal([]byte(run(t, dir, "", "--json", "plan", "list")), &ps); err != nil || len(ps) != 1 {
		t.Fatalf("plan list: %v %v", ps, err)
	}
	if p := ps[0]; p.Name != "basic" || p.MailboxQuotaBytes != 1<<30 || strings.Join(p.Domains, ",") != "shop.test" || p.SMS || !p.Antispam {
		t.Fatalf("plan: %+v", p)
	}
	if err := runErr(dir, "plan", "del", "basic"); err == nil {
		t.Fatal("deleted a plan in use")
	}
	if err := runErr(dir, "plan", "assign", "shop.test", "basic", "--none"); err == nil {
		t.Fatal("PLAN and --none both accepted")
	}
	run(t, dir, "", "plan", "assign", "shop.test", "--none")
	run(t, dir, "", "plan", "del", "basic")
	if out := run(t, dir, "", "audit", "--action", "plan."); !strings.Contains(out, "plan.create") || !strings.Contains(out, "plan.delete") {
		t.Fatalf("audit of plans:\n%s", out)
	}
}
