package web_test

import (
	"context"

	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
)

// victimPlan is the service plan the isolation test's {plan} routes name.
const victimPlan = "victim-plan"

// seedPolicy gives v's domain what the filter routes name: a rule, a system-wide rule,
// two held copies (one released, one deleted by the allowed caller), and the plan.
func (h *harness) seedPolicy(v *victim) {
	h.t.Helper()
	ctx := context.Background()
	f := h.env.Filter
	if err := h.env.Dir.CreatePlan(ctx, directory.Plan{Name: victimPlan, MaxUsers: 100}); err != nil {
		h.t.Fatal(err)
	}
	rule := filter.DomainRule{Domain: v.domain, Name: "victim", Enabled: true, Action: filter.ActionQuarantine, Arg: "victim",
		Conditions: []filter.Condition{{Field: filter.FieldSubject, Op: filter.OpContains, Value: "victim"}}}
	r, err := f.PutDomainRule(ctx, rule)
	if err != nil {
		h.t.Fatal(err)
	}
	rule.Domain = ""
	sr, err := f.PutDomainRule(ctx, rule)
	if err != nil {
		h.t.Fatal(err)
	}
	rcpt := mail.MustParse("u1@" + v.domain)
	held, err := f.Hold(ctx, []filter.Held{
		{Domain: v.domain, Account: h.acct[rcpt.String()].ID, Rcpt: rcpt, From: mail.MustParse("x@remote.example"), Reason: "victim", Mailet: "test"},
		{Domain: v.domain, Account: h.acct[rcpt.String()].ID, Rcpt: rcpt, From: mail.MustParse("y@remote.example"), Reason: "victim", Mailet: "test"},
	}, body.Bytes([]byte("From: x@remote.example\r\nSubject: victim\r\n\r\nheld\r\n")))
	if err != nil {
		h.t.Fatal(err)
	}
	v.rule, v.sysRule, v.held, v.heldDel = r.ID, sr.ID, held[0].ID, held[1].ID
}

// policyState is the filter state and plans an attack must not change.
type policyState struct {
	Blocks   map[string][]filter.BlockEntry
	Rules    map[string][]filter.DomainRule
	Switches map[string]filter.Switches
	Held     []filter.Held
	Plans    []directory.Plan
}

func (h *harness) policySnapshot() policyState {
	h.t.Helper()
	ctx := context.Background()
	f := h.env.Filter
	s := policyState{Blocks: map[string][]filter.BlockEntry{}, Rules: map[string][]filter.DomainRule{}, Switches: map[string]filter.Switches{}}
	var err error
	for _, d := range []string{"", "sys.example", "a.example", "b.example"} {
		if s.Blocks[d], err = f.Blocks(ctx, d); err != nil {
			h.t.Fatal(err)
		}
		if s.Rules[d], err = f.DomainRules(ctx, d); err != nil {
			h.t.Fatal(err)
		}
		if s.Switches[d], err = f.DomainSwitches(ctx, d); err != nil {
			h.t.Fatal(err)
		}
	}
	if s.Held, err = f.List(ctx, filter.QuarantineQuery{}); err != nil {
		h.t.Fatal(err)
	}
	if s.Plans, err = h.env.Dir.Plans(ctx); err != nil {
		h.t.Fatal(err)
	}
	return s
}
