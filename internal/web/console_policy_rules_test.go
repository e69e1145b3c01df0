package web_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"mailgrid/internal/filter"
)

// Editing a rule in the console: the form shows the stored rule; a refused change
// shows the reason inside the form with what was typed and stores nothing; a good
// change replaces the rule (conditions added and removed); another domain's rule and
// the system's are out of a domain admin's reach.
func TestConsoleRuleEdit(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	stored := func(domain string) []filter.DomainRule {
		t.Helper()
		rs, err := h.env.Filter.DomainRules(ctx, domain)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	sys := h.loggedIn("root@sys.example")
	da := h.loggedIn("da@a.example")
	const fa = "/console/domains/a.example/filters"
	postForm(t, da, fa+"/rule-add", url.Values{"name": {"big"}, "field": {"size"}, "op": {"over"}, "value": {"5M"},
		"action": {"fileinto"}, "arg": {"Large"}}, http.StatusSeeOther, fa+"?done=rule-added")
	postForm(t, sys, "/console/domains/b.example/filters/rule-add", url.Values{"name": {"b-rule"}, "field": {"subject"},
		"op": {"contains"}, "value": {"x"}, "action": {"drop"}}, http.StatusSeeOther, "/console/domains/b.example/filters?done=rule-added")
	a, b := stored("a.example"), stored("b.example")
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("rules: %+v %+v", a, b)
	}
	id := itoa(a[0].ID)
	expectPage(t, da, fa, http.StatusOK, `href="`+fa+`?edit=`+id+`#edit-rule"`)
	expectPage(t, da, fa+"?edit="+id, http.StatusOK, `id="edit-rule"`, `name="value_0" value="5242880"`, `name="field_1"`,
		`<option value="fileinto" selected>`)

	// A header test without a field name, and a bad size: refused in the form, as typed.
	bad := url.Values{"id": {id}, "name": {"big2"}, "position": {"3"}, "enabled": {"on"}, "action": {"addheader"}, "arg": {"X-Big: yes"},
		"field_0": {"size"}, "op_0": {"over"}, "value_0": {"6M"}, "field_1": {"header"}, "op_1": {"exists"}, "header_1": {""}}
	expectPOSTPage(t, da, fa+"/rule-update", bad, http.StatusBadRequest, `id="edit-rule-error"`, "header condition needs a field name",
		`name="name" value="big2"`, `name="value_0" value="6M"`)
	bad.Set("value_0", "six megabytes")
	bad.Set("header_1", "X-Spam")
	expectPOSTPage(t, da, fa+"/rule-update", bad, http.StatusBadRequest, `id="edit-rule-error"`, "size: want a size", `value="six megabytes"`)
	if got := stored("a.example"); !reflect.DeepEqual(got, a) {
		t.Fatalf("a refused edit changed the rule: %+v", got)
	}

	// A good edit: two conditions, any of them, another action.
	good := url.Values{"id": {id}, "name": {"big2"}, "position": {"3"}, "enabled": {"on"}, "match_any": {"on"}, "action": {"addheader"},
		"arg": {"X-Big: yes"}, "field_0": {"size"}, "op_0": {"over"}, "value_0": {"6M"},
		"field_1": {"header"}, "op_1": {"exists"}, "header_1": {"X-Spam"}, "field_2": {""}}
	postForm(t, da, fa+"/rule-update", good, http.StatusSeeOther, fa+"?done=rule-updated")
	got := stored("a.example")
	want := filter.DomainRule{ID: a[0].ID, Domain: "a.example", Name: "big2", Position: 3, Enabled: true, MatchAny: true,
		Action: filter.ActionAddHeader, Arg: "X-Big: yes", Conditions: []filter.Condition{
			{Field: filter.FieldSize, Op: filter.OpOver, Value: "6291456"}, {Field: filter.FieldHeader, Header: "X-Spam", Op: filter.OpExists}}}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("edited rule: %+v\nwant %+v", got, want)
	}
	// Removing the first condition (its field emptied) and turning the rule off.
	good.Set("field_0", "")
	good.Del("enabled")
	postForm(t, da, fa+"/rule-update", good, http.StatusSeeOther, fa+"?done=rule-updated")
	if got := stored("a.example"); len(got[0].Conditions) != 1 || got[0].Conditions[0].Field != filter.FieldHeader || got[0].Enabled {
		t.Fatalf("after removing a condition: %+v", got)
	}

	// B's rule through A's page, B's page, or the system page: not found / forbidden.
	bid := itoa(b[0].ID)
	expectPage(t, da, fa+"?edit="+bid, http.StatusNotFound)
	good.Set("id", bid)
	postForm(t, da, fa+"/rule-update", good, http.StatusNotFound, "")
	postForm(t, da, "/console/domains/b.example/filters/rule-update", good, http.StatusNotFound, "")
	postForm(t, da, "/console/system/rule-update", good, http.StatusForbidden, "")
	if got := stored("b.example"); !reflect.DeepEqual(got, b) {
		t.Fatalf("B's rule changed: %+v", got)
	}
}

// expectPOSTPage posts a console form that is refused and checks the page it answers
// shows want.
func expectPOSTPage(t *testing.T, c *client, path string, f url.Values, status int, want ...string) string {
	t.Helper()
	f.Set("csrf_token", c.csrf)
	resp := c.form(path, f)
	page := readAll(t, resp)
	if resp.StatusCode != status {
		t.Errorf("POST %s: %d, want %d\n%s", path, resp.StatusCode, status, page)
	}
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("POST %s does not show %q\n%s", path, w, page)
		}
	}
	return page
}
