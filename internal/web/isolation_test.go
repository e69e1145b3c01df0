package web_test

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/web"
)

// Tenant isolation, generated from the route table: every route that names a resource is
// called by an attacker with a victim's ids, with a body that would succeed if the caller
// were allowed; the answer must be 403 or 404 and nothing may change. Routes that name no
// resource (lists, /me) are called too, and must not show the victim. Then the same
// requests by a system admin (or the victim, for /me) succeed, which proves they named
// real resources and were well-formed: the refusals came from authorisation.

// victim names the ids an attack puts into a route's path.
type victim struct {
	name    string
	domain  string // {domain}
	account int64  // {id} under /accounts
	alias   string // {source}
	session int64  // {id} under /me/sessions
	token   int64  // {id} under /me/tokens
	rule    int64  // {rule} of the domain's rules
	sysRule int64  // {rule} of the system-wide rules
	held    int64  // {held} released
	heldDel int64  // {held} deleted
	// visible: the attacker may read the account (a co-admin who outranks it), so GET
	// answers 200 and only changes are refused.
	visible bool
	// accountOnly: the victim lives in a domain the attacker administers, so only the
	// routes that name the victim's account apply (the domain's own routes are the
	// attacker's to use).
	accountOnly bool
}

type attackReq struct {
	route  web.Route
	method string
	path   string
	body   any
}

// requestsFor fills every route that names a resource with v's ids.
func requestsFor(routes []web.Route, v victim) []attackReq {
	var out []attackReq
	for _, r := range routes {
		if !strings.Contains(r.Path, "{") || v.accountOnly && !strings.HasSuffix(r.Path, "/accounts/{id}") {
			continue
		}
		p := strings.ReplaceAll(r.Path, "{domain}", v.domain)
		p = strings.ReplaceAll(p, "{source}", v.alias)
		switch {
		case strings.HasPrefix(r.Path, "/api/v1/me/sessions/"):
			p = strings.ReplaceAll(p, "{id}", itoa(v.session))
		case strings.HasPrefix(r.Path, "/api/v1/me/tokens/"):
			p = strings.ReplaceAll(p, "{id}", itoa(v.token))
		default:
			p = strings.ReplaceAll(p, "{id}", itoa(v.account))
		}
		p = strings.ReplaceAll(p, "{plan}", victimPlan)
		if strings.HasPrefix(r.Path, "/api/v1/system/") {
			p = strings.ReplaceAll(p, "{rule}", itoa(v.sysRule))
		} else {
			p = strings.ReplaceAll(p, "{rule}", itoa(v.rule))
		}
		if r.Method == "DELETE" {
			p = strings.ReplaceAll(p, "{held}", itoa(v.heldDel))
		} else {
			p = strings.ReplaceAll(p, "{held}", itoa(v.held))
		}
		if r.Method == "DELETE" && strings.HasSuffix(r.Path, "/alias-domains") {
			p += "?name=intruder-alias." + v.domain // what the POST adds
		}
		if r.Method == "DELETE" && strings.HasSuffix(r.Path, "/blocks") {
			p += "?kind=sender&value=intruder%40block.example" // what the POST adds
		}
		if strings.Contains(p, "{") {
			panic("unfilled path parameter in " + r.Path)
		}
		if r.Method == "DELETE" && r.Path == "/api/v1/domains/{domain}" {
			p += "?force=true"
		}
		out = append(out, attackReq{route: r, method: r.Method, path: p, body: bodyFor(r, v)})
	}
	return out
}

// bodyFor is a body that succeeds for an allowed caller.
func bodyFor(r web.Route, v victim) any {
	switch {
	case r.Method == "PATCH" && strings.HasSuffix(r.Path, "/accounts/{id}"):
		return map[string]any{"password": "hijacked password", "quota_bytes": 12345, "enabled": false}
	case r.Method == "PATCH" && strings.HasSuffix(r.Path, "/domains/{domain}"):
		return map[string]any{"enabled": false, "max_users": 1}
	case r.Method == "POST" && strings.HasSuffix(r.Path, "/accounts"):
		return map[string]any{"address": "intruder@" + v.domain, "password": "intruder password"}
	case r.Method == "POST" && strings.HasSuffix(r.Path, "/aliases"):
		return map[string]any{"source": "intruder-alias@" + v.domain, "targets": []string{"u1@a.example"}}
	case r.Method == "POST" && strings.HasSuffix(r.Path, "/accounts.csv"):
		return map[string]any{"csv": "address,password\nintruder-csv@" + v.domain + ",intruder password\n"}
	case r.Method == "POST" && strings.HasSuffix(r.Path, "/broadcast"):
		return map[string]any{"subject": "intruder", "body": "intruder text"}
	case r.Method == "POST" && strings.HasSuffix(r.Path, "/blocks"):
		return map[string]any{"kind": "sender", "value": "intruder@block.example", "note": "intruder"}
	case (r.Method == "POST" || r.Method == "PUT") && strings.Contains(r.Path, "/rules"):
		return map[string]any{"name": "intruder", "action": "quarantine", "arg": "intruder",
			"conditions": []map[string]any{{"field": "subject", "op": "contains", "value": "intruder"}}}
	case r.Method == "PUT" && strings.HasSuffix(r.Path, "/filter-switches"):
		return map[string]any{"antivirus": false}
	case r.Method == "PUT" && r.Path == "/api/v1/plans/{plan}":
		return map[string]any{"max_users": 5}
	case r.Method == "PUT" && strings.HasSuffix(r.Path, "/admins"):
		return map[string]any{"admins": []string{"da@" + v.domain}}
	case r.Method == "POST" && strings.HasSuffix(r.Path, "/alias-domains"):
		return map[string]any{"name": "intruder-alias." + v.domain}
	case r.Method == "PUT" && strings.HasSuffix(r.Path, "/plan"):
		return map[string]any{"plan": ""}
	}
	return nil
}

// snapshot is everything an attack must not change.
type snapshot struct {
	Domains  []directory.Domain
	Accounts []directory.Account
	Aliases  []directory.Alias
	Sessions map[int64][]int64
	Tokens   map[int64][]int64
	Policy   policyState
}

func (h *harness) snapshot(victims ...int64) snapshot {
	h.t.Helper()
	ctx := context.Background()
	var s snapshot
	var err error
	if s.Domains, err = h.env.Dir.Domains(ctx); err != nil {
		h.t.Fatal(err)
	}
	if s.Accounts, err = h.env.Dir.Accounts(ctx, ""); err != nil {
		h.t.Fatal(err)
	}
	if s.Aliases, err = h.env.Dir.Aliases(ctx, ""); err != nil {
		h.t.Fatal(err)
	}
	s.Sessions, s.Tokens = map[int64][]int64{}, map[int64][]int64{}
	s.Policy = h.policySnapshot()
	for _, id := range victims {
		ss, err := h.env.Dir.Sessions(ctx, id, time.Now())
		if err != nil {
			h.t.Fatal(err)
		}
		for _, x := range ss {
			s.Sessions[id] = append(s.Sessions[id], x.ID)
		}
		ts, err := h.env.Dir.APITokens(ctx, id)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, x := range ts {
			s.Tokens[id] = append(s.Tokens[id], x.ID)
		}
	}
	return s
}

// victimOf signs addr in (a session) and gives it a token, and returns its ids.
func (h *harness) victimOf(addr, domain, alias string) (victim, *client) {
	h.t.Helper()
	c := h.loggedIn(addr)
	newToken(h.t, c, "victim", web.ScopeSelfRead)
	ctx := context.Background()
	id := h.acct[addr].ID
	ss, err := h.env.Dir.Sessions(ctx, id, time.Now())
	if err != nil || len(ss) == 0 {
		h.t.Fatal(ss, err)
	}
	ts, err := h.env.Dir.APITokens(ctx, id)
	if err != nil || len(ts) == 0 {
		h.t.Fatal(ts, err)
	}
	return victim{name: addr, domain: domain, account: id, alias: alias, session: ss[0].ID, token: ts[0].ID}, c
}

func TestTenantIsolation(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	// A co-admin of a.example who also administers b.example: it outranks da@a.example.
	h.add(ctx, "boss@a.example", directory.RoleDomainAdmin)
	doms := []string{"a.example", "b.example"}
	if _, err := h.env.Dir.UpdateAccount(ctx, h.acct["boss@a.example"].Address, directory.AccountUpdate{AdminDomains: &doms}); err != nil {
		t.Fatal(err)
	}
	routes := h.srv.Routes()
	vB, _ := h.victimOf("u1@b.example", "b.example", "info@b.example")
	h.seedPolicy(&vB)
	vBAdmin, _ := h.victimOf("da@b.example", "b.example", "info@b.example")
	vRoot, _ := h.victimOf("root@sys.example", "sys.example", "info@b.example")
	vBoss, _ := h.victimOf("boss@a.example", "a.example", "info@b.example")
	vU2, _ := h.victimOf("u2@a.example", "a.example", "info@a.example")
	// B's ids under A's name: the directory's no-cross-tenant-reads-by-id rule.
	vMixed := vB
	vMixed.name, vMixed.domain, vMixed.accountOnly = "u1@b.example under a.example", "a.example", true
	// For da@a.example the co-admin is visible (its mailbox is in a.example) but outranks it.
	bossForDA := vBoss
	bossForDA.visible, bossForDA.accountOnly = true, true
	ids := []int64{vB.account, vBAdmin.account, vRoot.account, vBoss.account, vU2.account}

	attackers := []struct {
		addr    string
		victims []victim
		hidden  []string // strings no answer may contain
	}{
		{"da@a.example", []victim{vB, vBAdmin, vRoot, bossForDA, vMixed}, []string{"b.example", "root@sys.example"}},
		{"u1@a.example", []victim{vU2, vB, vBAdmin, vRoot, vBoss, vMixed}, []string{"u2@a.example", "b.example", "root@sys.example", "boss@"}},
	}
	for _, at := range attackers {
		c := h.loggedIn(at.addr)
		before := h.snapshot(ids...)
		for _, v := range at.victims {
			for _, rq := range requestsFor(routes, v) {
				st, body := c.do(rq.method, rq.path, rq.body)
				switch {
				case v.visible && rq.method == "GET" && st == http.StatusOK:
				case st == http.StatusForbidden || st == http.StatusNotFound:
					errorCode(t, body)
				default:
					t.Errorf("%s %s %s (victim %s): %d %s, want 403 or 404", at.addr, rq.method, rq.path, v.name, st, body)
				}
			}
		}
		callUnnamed(t, c, routes, at.addr, at.hidden)
		if after := h.snapshot(ids...); !reflect.DeepEqual(before, after) {
			t.Errorf("%s's attacks changed the directory:\nbefore %+v\nafter  %+v", at.addr, before, after)
		}
	}
	provePathsReal(t, h, routes, vB)
}

// callUnnamed calls the routes that name no resource (lists, /me): allowed or refused,
// their answers never show what hidden names.
func callUnnamed(t *testing.T, c *client, routes []web.Route, who string, hidden []string) {
	t.Helper()
	for _, r := range routes {
		if strings.Contains(r.Path, "{") || r.Auth == web.AuthPublic || r.Path == "/api/v1/logout" {
			continue
		}
		var body any
		switch r.Method + " " + r.Path {
		case "POST /api/v1/domains":
			body = map[string]any{"name": "intruder.example"}
		case "POST /api/v1/me/tokens":
			body = map[string]any{"name": "mine", "scopes": []string{web.ScopeSelfRead}}
		case "POST /api/v1/me/totp/confirm":
			body = map[string]any{"code": "000000"}
		case "POST /api/v1/me/totp/disable":
			body = map[string]any{"current_password": pw}
		}
		st, resp := c.do(r.Method, r.Path, body)
		if st >= 500 {
			t.Errorf("%s %s %s: %d %s", who, r.Method, r.Path, st, resp)
		}
		for _, s := range hidden {
			if strings.Contains(string(resp), s) {
				t.Errorf("%s %s %s shows %q: %s", who, r.Method, r.Path, s, resp)
			}
		}
		if r.Method == "POST" && r.Path == "/api/v1/domains" && st != http.StatusForbidden {
			t.Errorf("%s created a domain: %d %s", who, st, resp)
		}
	}
}

// provePathsReal sends the attack requests against v as the system admin (domains,
// accounts, aliases) and as v itself (/me), and expects success: the refused requests
// named real things and had valid bodies.
func provePathsReal(t *testing.T, h *harness, routes []web.Route, v victim) {
	t.Helper()
	root := h.loggedIn("root@sys.example")
	owner := h.loggedIn(v.name)
	reqs := requestsFor(routes, v)
	// /me first (a new password below ends the victim's sessions), then reads, creations,
	// changes, and deletions of the deepest resources first (alias, account, then domain).
	rank := func(q attackReq) int {
		if strings.HasPrefix(q.path, "/api/v1/me/") {
			return 0
		}
		return 1 + map[string]int{"GET": 0, "POST": 1, "PATCH": 2, "DELETE": 3}[q.method]
	}
	slices.SortStableFunc(reqs, func(a, b attackReq) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		// Deleting the account first would take the alias that targets only it along.
		depth := func(q attackReq) int { return strings.Count(q.path, "/") + strings.Count(q.path, "/aliases/") }
		return depth(b) - depth(a)
	})
	for _, rq := range reqs {
		c := root
		if strings.HasPrefix(rq.path, "/api/v1/me/") {
			c = owner
		}
		if st, body := c.do(rq.method, rq.path, rq.body); st < 200 || st > 299 {
			t.Errorf("as allowed caller %s %s: %d %s (the isolation test's request is not valid)", rq.method, rq.path, st, body)
		}
	}
	if n := len(reqs); n < 10 {
		t.Errorf("only %d routes name a resource", n)
	}
	t.Logf("%d resource routes proven", len(reqs))
}
