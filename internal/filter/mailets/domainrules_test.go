package mailets_test

import (
	"context"
	"strings"
	"testing"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/store"
)

// TestDomainRulesConditions runs rules of every kind through the real pipeline with the
// rules in the real filter state.
func TestDomainRulesConditions(t *testing.T) {
	e := stack(t, func(e *deliverytest.Env, c *filter.Chains) {
		add(t, c, filter.StageData, filter.Rule{Mailet: &mailets.DomainRules{Rules: e.Filter}})
	})
	user := e.Account(t, "user@local.test", "pw-user-1234", 0)
	ctx := context.Background()
	put := func(r filter.DomainRule) {
		t.Helper()
		r.Domain, r.Enabled = "local.test", true
		must(t, r.Validate())
		_, err := e.Filter.PutDomainRule(ctx, r)
		must(t, err)
	}
	cond := func(f filter.RuleField, op filter.RuleOp, v string) filter.Condition {
		return filter.Condition{Field: f, Op: op, Value: v}
	}
	// A disabled rule never acts.
	_, err := e.Filter.PutDomainRule(ctx, filter.DomainRule{Domain: "local.test", Name: "off", Action: filter.ActionReject,
		Conditions: []filter.Condition{cond(filter.FieldSize, filter.OpOver, "0")}})
	must(t, err)
	put(filter.DomainRule{Name: "glob", Position: 1, Action: filter.ActionReject, Arg: "glob matched",
		Conditions: []filter.Condition{cond(filter.FieldFrom, filter.OpMatches, "*@*.spam.example")}})
	put(filter.DomainRule{Name: "any", Position: 2, MatchAny: true, Action: filter.ActionQuarantine, Arg: "suspicious",
		Conditions: []filter.Condition{cond(filter.FieldSubject, filter.OpIs, "hold me"), cond(filter.FieldTo, filter.OpContains, "+hold@")}})
	put(filter.DomainRule{Name: "not", Position: 3, Action: filter.ActionDrop,
		Conditions: []filter.Condition{cond(filter.FieldSubject, filter.OpContains, "newsletter"),
			{Field: filter.FieldHeader, Header: "X-Wanted", Op: filter.OpExists, Not: true}}})
	put(filter.DomainRule{Name: "small", Position: 4, Action: filter.ActionAddHeader, Arg: "X-Small: yes",
		Conditions: []filter.Condition{cond(filter.FieldSize, filter.OpUnder, "200")}})

	send := func(from, to, subject, extra string) (int, string) {
		msg := "From: Someone <" + from + ">\r\nSubject: " + subject + "\r\n" + extra + "\r\nbody\r\n"
		reply, _ := deliver(t, e, envTo(from, to), msg)
		if reply != nil {
			return reply.Code, reply.Message
		}
		return 0, ""
	}
	if code, text := send("x@mx1.spam.example", "user@local.test", "hi", ""); code != 550 || text != "glob matched" {
		t.Errorf("glob: %d %q", code, text)
	}
	if code, _ := send("x@spam.example", "user@local.test", "Hold Me", ""); code != 0 {
		t.Errorf("quarantine (any, subject): %d", code)
	}
	if code, _ := send("x@friend.example", "user+hold@local.test", "other", ""); code != 0 {
		t.Errorf("quarantine (any, to): %d", code)
	}
	held, err := e.Filter.List(ctx, filter.QuarantineQuery{Domain: "local.test"})
	if err != nil || len(held) != 2 || held[0].Reason != "domain rule any: suspicious" {
		t.Errorf("held %+v %v", held, err)
	}
	if code, _ := send("x@friend.example", "user@local.test", "Weekly Newsletter", ""); code != 0 {
		t.Errorf("drop: %d", code)
	}
	if n := e.Total(t, user); n != 0 {
		t.Fatalf("%d messages stored after reject, holds and drop", n)
	}
	send("x@friend.example", "user@local.test", "Weekly Newsletter", "X-Wanted: yes\r\n")
	got := only(t, e, user, store.Inbox)
	if headerOf(got) == "" || !strings.Contains(got, "X-Small: yes\r\n") {
		t.Errorf("wanted newsletter, small:\n%s", got)
	}
}
