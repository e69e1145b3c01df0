package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// domain del keeps the domain restorable; restore brings it back; purge removes it; admins
// --set transfers it; alias add/list/del manage alias domains.
func TestDomainLifecycleCLI(t *testing.T) {
	dir := t.TempDir()
	run(t, dir, "", "domain", "add", "shop.test")
	run(t, dir, "", "domain", "add", "agency.test")
	run(t, dir, "pw-alice-1\n", "user", "add", "alice@shop.test", "--password-stdin")
	run(t, dir, "pw-boss-1\n", "user", "add", "boss@agency.test", "--password-stdin")

	if err := runErr(dir, "domain", "del", "shop.test"); err == nil || !strings.Contains(err.Error(), "accounts") {
		t.Fatalf("del of a non-empty domain without --force: %v", err)
	}
	if out := run(t, dir, "", "domain", "del", "shop.test", "--force"); !strings.Contains(out, "restorable until") {
		t.Errorf("del: %q", out)
	}
	var ds []domainView
	if err := json.Unmarshal([]byte(run(t, dir, "", "--json", "domain", "show", "shop.test")), &ds); err != nil || len(ds) != 1 {
		t.Fatalf("show: %v %v", ds, err)
	}
	if ds[0].Enabled || ds[0].PurgeAt == nil || ds[0].Accounts != 1 {
		t.Errorf("deleted domain: %+v", ds[0])
	}
	if out := run(t, dir, "", "domain", "list", "--deleted"); !strings.Contains(out, "deleted (purge ") || !strings.Contains(out, "shop.test") {
		t.Errorf("list --deleted does not show the deletion:\n%s", out)
	}
	if out := run(t, dir, "", "domain", "list"); strings.Contains(out, "shop.test") {
		t.Errorf("list shows a deleted domain:\n%s", out)
	}
	if err := runErr(dir, "domain", "alias", "add", "shop.example", "--to", "shop.test"); err == nil {
		t.Error("alias domain of a deleted domain accepted")
	}
	run(t, dir, "", "domain", "restore", "shop.test")
	ds = nil
	if err := json.Unmarshal([]byte(run(t, dir, "", "--json", "domain", "show", "shop.test")), &ds); err != nil {
		t.Fatal(err)
	}
	if !ds[0].Enabled || ds[0].PurgeAt != nil || ds[0].Accounts != 1 {
		t.Errorf("restored domain: %+v", ds[0])
	}
	if err := runErr(dir, "domain", "purge", "shop.test"); err == nil {
		t.Error("purge of a domain that is not deleted")
	}

	// Transfer to an admin of another domain; then to nobody.
	var as []adminView
	if err := json.Unmarshal([]byte(run(t, dir, "", "--json", "domain", "admins", "shop.test", "--set", "boss@agency.test")), &as); err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Address != "boss@agency.test" || strings.Join(as[0].AdminDomains, ",") != "shop.test" {
		t.Errorf("admins after transfer: %+v", as)
	}
	run(t, dir, "", "domain", "admins", "shop.test", "--none")
	if out := run(t, dir, "", "--json", "domain", "admins", "shop.test"); strings.TrimSpace(out) != "[]" {
		t.Errorf("admins after --none: %s", out)
	}

	// Alias domains.
	run(t, dir, "", "domain", "alias", "add", "Shop.Example", "--to", "shop.test")
	var als []aliasDomainView
	if err := json.Unmarshal([]byte(run(t, dir, "", "--json", "domain", "alias", "list")), &als); err != nil {
		t.Fatal(err)
	}
	if len(als) != 1 || als[0].Name != "shop.example" || als[0].Target != "shop.test" {
		t.Errorf("alias domains: %+v", als)
	}
	if err := runErr(dir, "domain", "alias", "add", "agency.test", "--to", "shop.test"); err == nil {
		t.Error("a domain accepted as an alias domain")
	}
	run(t, dir, "", "domain", "alias", "del", "shop.example")
	if err := runErr(dir, "domain", "alias", "del", "shop.example"); err == nil {
		t.Error("deleted an alias domain twice")
	}

	// Delete and purge now: the domain and its account are gone.
	run(t, dir, "", "domain", "del", "shop.test", "--force")
	run(t, dir, "", "domain", "purge", "shop.test")
	if err := runErr(dir, "domain", "show", "shop.test"); err == nil {
		t.Error("purged domain still shown")
	}
	if err := runErr(dir, "user", "show", "alice@shop.test"); err == nil {
		t.Error("purged account still shown")
	}
}
