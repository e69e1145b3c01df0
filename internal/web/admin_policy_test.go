package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// The policy API as a provisioning program uses it (bearer tokens): plans by the system
// admin, a domain's block list, rules, switches within the plan, DNS; stable error codes
// for bad input, and bad input changes nothing.
func TestAPIPlansAndPolicy(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	sys := h.client()
	sys.bearer = newToken(t, h.loggedIn("root@sys.example"), "billing", "admin:read", "admin:write")
	da := h.client()
	da.bearer = newToken(t, h.loggedIn("da@a.example"), "provisioning", "admin:read", "admin:write")
	want := func(what string, st int, body []byte, status int, code string) {
		t.Helper()
		if st != status {
			t.Errorf("%s: %d %s, want %d", what, st, body, status)
			return
		}
		if code != "" {
			if got := errorCode(t, body); got != code {
				t.Errorf("%s: code %q, want %q", what, got, code)
			}
		}
	}

	st, body := sys.do("POST", "/api/v1/plans", map[string]any{"name": "basic", "mailbox_quota_bytes": 1 << 30, "antispam": true})
	want("create plan", st, body, http.StatusCreated, "")
	st, body = sys.do("POST", "/api/v1/plans", map[string]any{"name": "basic"})
	want("duplicate plan", st, body, http.StatusConflict, "exists")
	st, body = sys.do("PUT", "/api/v1/domains/a.example/plan", map[string]any{"plan": "basic"})
	want("assign plan", st, body, http.StatusOK, "")
	st, body = sys.do("GET", "/api/v1/plans/basic", nil)
	want("read plan", st, body, http.StatusOK, "")
	if !strings.Contains(string(body), `"domains":["a.example"]`) {
		t.Errorf("plan's domains: %s", body)
	}
	st, body = sys.do("PUT", "/api/v1/plans/basic", map[string]any{"name": "other"})
	want("rename plan", st, body, http.StatusBadRequest, "invalid")
	st, body = sys.do("DELETE", "/api/v1/plans/basic", nil)
	want("delete plan in use", st, body, http.StatusConflict, "plan_in_use")
	st, body = da.do("POST", "/api/v1/plans", map[string]any{"name": "mine"})
	want("domain admin creates plan", st, body, http.StatusForbidden, "forbidden")

	const a = "/api/v1/domains/a.example"
	st, body = da.do("POST", a+"/blocks", map[string]any{"kind": "ip", "value": "192.0.2.1", "note": "abuse"})
	want("block ip", st, body, http.StatusCreated, "")
	if !strings.Contains(string(body), `"value":"192.0.2.1/32"`) {
		t.Errorf("normalised entry: %s", body)
	}
	st, body = da.do("POST", a+"/blocks", map[string]any{"kind": "ip", "value": "192.0.2.1/32"})
	want("duplicate block", st, body, http.StatusConflict, "exists")
	st, body = da.do("POST", a+"/blocks", map[string]any{"kind": "planet", "value": "mars"})
	want("bad kind", st, body, http.StatusBadRequest, "invalid")
	st, body = da.do("POST", a+"/rules", map[string]any{"name": "bad", "action": "explode",
		"conditions": []map[string]any{{"field": "subject", "op": "contains", "value": "x"}}})
	want("bad rule", st, body, http.StatusBadRequest, "invalid")
	if rs, err := h.env.Filter.DomainRules(ctx, "a.example"); err != nil || len(rs) != 0 {
		t.Errorf("a refused rule was stored: %+v %v", rs, err)
	}
	st, body = da.do("POST", a+"/rules", map[string]any{"name": "big", "action": "fileinto", "arg": "Large",
		"conditions": []map[string]any{{"field": "size", "op": "over", "value": "1000"}}})
	want("add rule", st, body, http.StatusCreated, "")
	st, body = da.do("GET", a+"/rules", nil)
	want("list rules", st, body, http.StatusOK, "")
	if !strings.Contains(string(body), `"name":"big"`) || !strings.Contains(string(body), `"enabled":true`) {
		t.Errorf("rules: %s", body)
	}

	// Switches: off is always allowed, antivirus back on is beyond the plan (it offers
	// antispam only), for the system admin it is not.
	st, body = da.do("PUT", a+"/filter-switches", map[string]any{"antivirus": false})
	want("antivirus off", st, body, http.StatusOK, "")
	st, body = da.do("PUT", a+"/filter-switches", map[string]any{"antivirus": true})
	want("antivirus on beyond the plan", st, body, http.StatusUnprocessableEntity, "limit_exceeded")
	if sw, err := h.env.Filter.DomainSwitches(ctx, "a.example"); err != nil || !sw.NoAntivirus || sw.NoAntispam {
		t.Errorf("switches after the refusal: %+v %v", sw, err)
	}
	st, body = sys.do("PUT", a+"/filter-switches", map[string]any{"antivirus": true})
	want("system admin: antivirus on", st, body, http.StatusOK, "")

	st, body = da.do("DELETE", a+"/blocks?kind=ip&value=192.0.2.1", nil)
	want("remove block", st, body, http.StatusNoContent, "")
	st, body = da.do("DELETE", a+"/blocks?kind=ip&value=192.0.2.1", nil)
	want("remove block twice", st, body, http.StatusNotFound, "not_found")

	st, body = da.do("GET", a+"/dns", nil)
	want("dns records", st, body, http.StatusOK, "")
	if !strings.Contains(string(body), `"value":"v=spf1 mx -all"`) {
		t.Errorf("dns: %s", body)
	}
	st, body = da.do("GET", "/api/v1/system/rules", nil)
	want("domain admin: system rules", st, body, http.StatusForbidden, "forbidden")
	st, body = da.do("GET", "/api/v1/quarantine", nil)
	want("domain admin: every quarantine", st, body, http.StatusForbidden, "forbidden")
	if bs, err := h.env.Filter.Blocks(ctx, ""); err != nil || len(bs) != 0 {
		t.Errorf("system list: %+v %v", bs, err)
	}
}
