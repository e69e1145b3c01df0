package admin_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
)

const heldMsg = "From: x@remote.example\r\nTo: u1@b.example\r\nSubject: held\r\n\r\nheld body\r\n"

// policyState is everything the filter methods could change.
type policyState struct {
	Blocks   map[string][]filter.BlockEntry
	Rules    map[string][]filter.DomainRule
	Switches map[string]filter.Switches
	Held     []filter.Held
}

func readPolicy(t *testing.T, f *admin.FilterAdmin) policyState {
	t.Helper()
	ctx := context.Background()
	s := policyState{Blocks: map[string][]filter.BlockEntry{}, Rules: map[string][]filter.DomainRule{}, Switches: map[string]filter.Switches{}}
	for _, d := range []string{"", "a.example", "b.example"} {
		bs, err := f.Policy.ListBlocks(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := f.Policy.ListRules(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		s.Blocks[d], s.Rules[d] = bs, rs
		if d != "" {
			if s.Switches[d], err = f.Policy.DomainSwitches(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	var err error
	if s.Held, err = f.Quarantine.List(ctx, filter.QuarantineQuery{}); err != nil {
		t.Fatal(err)
	}
	return s
}

// A domain admin reaches its own domain's block list, rules, switches and quarantine
// and nothing of another domain (404) or of the system (403); a user reaches nothing;
// refused calls change nothing; allowed changes are audited.
func TestScopedFiltersAuthz(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.env
	fa := &admin.FilterAdmin{
		Policy:     &admin.FilterPolicy{Dir: e.Dir, Lists: e.Filter, Rules: e.Filter, Switches: e.Filter},
		Quarantine: e.Filter, Release: e.Pipeline.Release,
	}
	sys := f.svc.As(f.sys).Filters(fa)
	rule := filter.DomainRule{Domain: "b.example", Name: "victim", Enabled: true, Action: filter.ActionQuarantine, Arg: "x",
		Conditions: []filter.Condition{{Field: filter.FieldSubject, Op: filter.OpContains, Value: "x"}}}
	bRule, err := sys.PutRule(ctx, rule)
	if err != nil {
		t.Fatal(err)
	}
	sysRule := rule
	sysRule.Domain = ""
	if _, err := sys.PutRule(ctx, sysRule); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.AddBlock(ctx, "b.example", "sender", "spam@x.example", ""); err != nil {
		t.Fatal(err)
	}
	held, err := e.Filter.Hold(ctx, []filter.Held{{Domain: "b.example", Account: f.userB.ID, Rcpt: f.userB.Address,
		From: mail.MustParse("x@remote.example"), Reason: "test", Mailet: "test"}}, body.Bytes([]byte(heldMsg)))
	if err != nil {
		t.Fatal(err)
	}
	hB := held[0].ID

	user := f.svc.As(admin.Actor{Account: f.userA, Via: "api"}).Filters(fa)
	da := f.svc.As(f.daA).Filters(fa)
	before := readPolicy(t, fa)
	type call struct {
		name string
		do   func(*admin.ScopedFilters) error
	}
	calls := func(domain string, ruleID, heldID int64) []call {
		r := rule
		r.Domain, r.ID = domain, ruleID
		return []call{
			{"blocks", func(s *admin.ScopedFilters) error { _, err := s.Blocks(ctx, domain); return err }},
			{"add block", func(s *admin.ScopedFilters) error {
				_, err := s.AddBlock(ctx, domain, "ip", "192.0.2.0/24", "")
				return err
			}},
			{"remove block", func(s *admin.ScopedFilters) error { return s.RemoveBlock(ctx, domain, "sender", "spam@x.example") }},
			{"rules", func(s *admin.ScopedFilters) error { _, err := s.Rules(ctx, domain); return err }},
			{"put rule", func(s *admin.ScopedFilters) error { _, err := s.PutRule(ctx, r); return err }},
			{"delete rule", func(s *admin.ScopedFilters) error { return s.DeleteRule(ctx, domain, ruleID) }},
			{"switches", func(s *admin.ScopedFilters) error { _, err := s.Switches(ctx, domain); return err }},
			{"set switches", func(s *admin.ScopedFilters) error {
				return s.SetSwitches(ctx, domain, filter.Switches{NoAntivirus: true})
			}},
			{"held", func(s *admin.ScopedFilters) error { _, err := s.Held(ctx, domain, 0); return err }},
			{"release", func(s *admin.ScopedFilters) error { return s.ReleaseHeld(ctx, domain, heldID) }},
			{"delete held", func(s *admin.ScopedFilters) error { return s.DeleteHeld(ctx, domain, heldID) }},
		}
	}
	expect := func(who string, s *admin.ScopedFilters, domain string, ruleID, heldID int64, want ...error) {
		t.Helper()
		for _, c := range calls(domain, ruleID, heldID) {
			err := c.do(s)
			ok := false
			for _, w := range want {
				ok = ok || errors.Is(err, w)
			}
			if !ok {
				t.Errorf("%s %s of %q: %v, want one of %v", who, c.name, domain, err, want)
			}
		}
	}
	// Another tenant: not found; the system's: forbidden (or not found where a domain is
	// required); a user: not found for any domain, forbidden for the system.
	expect("domain admin", da, "b.example", bRule.ID, hB, directory.ErrNotFound)
	expect("domain admin", da, "", bRule.ID, hB, admin.ErrForbidden, directory.ErrNotFound)
	expect("user", user, "a.example", bRule.ID, hB, directory.ErrNotFound)
	expect("user", user, "b.example", bRule.ID, hB, directory.ErrNotFound)
	expect("user", user, "", bRule.ID, hB, admin.ErrForbidden, directory.ErrNotFound)
	// B's ids under the domain admin's own domain name: not found, not B's.
	for _, c := range calls("a.example", bRule.ID, hB) {
		switch c.name {
		case "put rule", "delete rule", "release", "delete held":
			if err := c.do(da); !errors.Is(err, directory.ErrNotFound) {
				t.Errorf("domain admin %s with b.example's id under a.example: %v", c.name, err)
			}
		}
	}
	if after := readPolicy(t, fa); !reflect.DeepEqual(before, after) {
		t.Fatalf("refused calls changed the filter state:\nbefore %+v\nafter  %+v", before, after)
	}

	// The domain admin's own domain: everything works and is audited.
	if _, err := da.AddBlock(ctx, "a.example", "sender-domain", "Spam.Example", "from the console"); err != nil {
		t.Fatal(err)
	}
	r := rule
	r.Domain = "a.example"
	aRule, err := da.PutRule(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := da.SetSwitches(ctx, "a.example", filter.Switches{NoAntispam: true}); err != nil {
		t.Fatal(err)
	}
	if err := da.DeleteRule(ctx, "a.example", aRule.ID); err != nil {
		t.Fatal(err)
	}
	entries, err := f.svc.As(f.sys).Audit(ctx, directory.AuditQuery{Domains: []string{"a.example"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, en := range entries {
		if en.Actor == "da@a.example" {
			got[en.Action] = true
		}
	}
	for _, a := range []string{"block.add", "rule.put", "rule.delete", "domain.filters"} {
		if !got[a] {
			t.Errorf("no audit entry %s by the domain admin: %+v", a, entries)
		}
	}

	// The system admin releases B's held copy: it is delivered and gone from the quarantine.
	if err := sys.ReleaseHeld(ctx, "b.example", hB); err != nil {
		t.Fatal(err)
	}
	if n := e.Total(t, f.userB); n != 1 {
		t.Errorf("after release u1@b.example has %d messages, want 1", n)
	}
	if err := sys.ReleaseHeld(ctx, "b.example", hB); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("second release: %v", err)
	}
}

// A domain admin turns a filter on only when the domain's plan offers it.
func TestScopedSwitchesWithinPlan(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.env
	fa := &admin.FilterAdmin{Policy: &admin.FilterPolicy{Dir: e.Dir, Lists: e.Filter, Rules: e.Filter, Switches: e.Filter}}
	sc := f.svc.As(f.sys)
	if _, err := sc.CreatePlan(ctx, directory.Plan{Name: "basic", MailboxQuotaBytes: 1 << 30, Antispam: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.AssignPlan(ctx, "a.example", "basic"); err != nil {
		t.Fatal(err)
	}
	da := f.svc.As(f.daA).Filters(fa)
	// Both on (the default): switching antispam, or the antivirus the plan lacks, off is fine.
	if err := da.SetSwitches(ctx, "a.example", filter.Switches{NoAntispam: true}); err != nil {
		t.Errorf("antispam off: %v", err)
	}
	if err := da.SetSwitches(ctx, "a.example", filter.Switches{NoAntivirus: true}); err != nil {
		t.Errorf("antivirus off, antispam back on (offered): %v", err)
	}
	if err := da.SetSwitches(ctx, "a.example", filter.Switches{}); !errors.Is(err, directory.ErrLimit) {
		t.Errorf("antivirus on beyond the plan: %v", err)
	}
	if err := sc.Filters(fa).SetSwitches(ctx, "a.example", filter.Switches{}); err != nil {
		t.Errorf("system admin: %v", err)
	}
}
