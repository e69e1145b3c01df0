package admin_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
	dirsqlite "mailgrid/internal/directory/sqlite"
	"mailgrid/internal/filter"
	filtersqlite "mailgrid/internal/filter/sqlite"
)

func TestFilterPolicy(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir, err := dirsqlite.Open(ctx, filepath.Join(root, "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dir.Close() })
	fdb, err := filtersqlite.Open(ctx, filtersqlite.Options{Dir: filepath.Join(root, "filter")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fdb.Close() })
	if err := dir.CreateDomain(ctx, directory.Domain{Name: "example.org", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	p := &admin.FilterPolicy{Dir: dir, Lists: fdb, Rules: fdb, Switches: fdb}
	if err := p.SetDomainSwitches(ctx, "example.org", filter.Switches{NoAntivirus: true}); err != nil {
		t.Fatal(err)
	}
	if s, err := p.DomainSwitches(ctx, "EXAMPLE.org"); err != nil || !s.NoAntivirus || s.NoAntispam {
		t.Errorf("switches %+v %v", s, err)
	}
	if err := p.SetDomainSwitches(ctx, "", filter.Switches{}); err == nil {
		t.Error("system-wide switches accepted")
	}

	e, err := p.AddBlock(ctx, "Example.ORG", "ip", "192.0.2.77/24", " spam run ")
	if err != nil {
		t.Fatal(err)
	}
	if e.Domain != "example.org" || e.Value != "192.0.2.0/24" || e.Note != "spam run" {
		t.Errorf("entry %+v", e)
	}
	if _, err := p.AddBlock(ctx, "example.org", "ip", "192.0.2.0/24", ""); !errors.Is(err, filter.ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := p.AddBlock(ctx, "", "sender", "Bad@Spam.Example", ""); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][3]string{{"example.org", "ip", "300.1.1.1"}, {"example.org", "colour", "red"},
		{"nosuch.example", "sender", "a@b.example"}, {"", "sender", "not an address"}} {
		if _, err := p.AddBlock(ctx, bad[0], bad[1], bad[2], ""); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	sys, err := p.ListBlocks(ctx, "")
	if err != nil || len(sys) != 1 || sys[0].Value != "bad@spam.example" || sys[0].Kind != filter.BlockSender {
		t.Errorf("system list %+v %v", sys, err)
	}
	if err := p.RemoveBlock(ctx, "example.org", "ip", "192.0.2.1/24"); err != nil {
		t.Errorf("remove by an equivalent prefix: %v", err)
	}
	if err := p.RemoveBlock(ctx, "example.org", "ip", "192.0.2.0/24"); !errors.Is(err, filter.ErrNotFound) {
		t.Errorf("remove twice: %v", err)
	}

	r, err := p.PutRule(ctx, filter.DomainRule{Domain: "example.org", Name: "big", Enabled: true, Action: filter.ActionQuarantine,
		Conditions: []filter.Condition{{Field: filter.FieldSize, Op: filter.OpOver, Value: "1000000"}}})
	if err != nil || r.ID == 0 {
		t.Fatalf("put rule: %+v %v", r, err)
	}
	r.Position, r.Action, r.Arg = 5, filter.ActionFileInto, "Big"
	if _, err := p.PutRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []filter.DomainRule{
		{Domain: "example.org", Name: "x", Action: filter.ActionReject},
		{Domain: "example.org", Name: "x", Action: "explode", Conditions: []filter.Condition{{Field: filter.FieldSubject, Op: filter.OpIs, Value: "a"}}},
		{Domain: "example.org", Name: "x", Action: filter.ActionAddHeader, Arg: "no colon", Conditions: []filter.Condition{{Field: filter.FieldSubject, Op: filter.OpIs}}},
		{Domain: "example.org", Name: "x", Action: filter.ActionDrop, Conditions: []filter.Condition{{Field: filter.FieldSize, Op: filter.OpIs, Value: "1"}}},
		{Domain: "example.org", Name: "", Action: filter.ActionDrop, Conditions: []filter.Condition{{Field: filter.FieldSubject, Op: filter.OpIs}}},
		{Domain: "example.org", ID: 999, Name: "x", Action: filter.ActionDrop, Conditions: []filter.Condition{{Field: filter.FieldSubject, Op: filter.OpIs}}},
	} {
		if _, err := p.PutRule(ctx, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	rules, err := p.ListRules(ctx, "example.org")
	if err != nil || len(rules) != 1 || rules[0].Action != filter.ActionFileInto || rules[0].Arg != "Big" || rules[0].Position != 5 ||
		len(rules[0].Conditions) != 1 || rules[0].Conditions[0].Value != "1000000" {
		t.Errorf("rules %+v %v", rules, err)
	}
	if err := p.DeleteRule(ctx, "", r.ID); !errors.Is(err, filter.ErrNotFound) {
		t.Errorf("delete from another domain: %v", err)
	}
	if err := p.DeleteRule(ctx, "example.org", r.ID); err != nil {
		t.Error(err)
	}
}
