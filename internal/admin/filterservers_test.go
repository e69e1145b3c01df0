package admin_test

import (
	"context"
	"errors"
	"testing"

	"mailgrid/internal/admin"
	"mailgrid/internal/filter"
)

// Only a system admin sees the node's filter servers; "check" runs every health check
// again, a plain view only the stale ones.
func TestFilterServersSystemAdminOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	srv := filter.NewServers(nil)
	checks := 0
	srv.Add(filter.ServerInfo{Name: "hook", Kind: filter.KindHTTPHook, Address: "http://127.0.0.1:1/"},
		func(context.Context) error { checks++; return errors.New("connection refused") })
	fa := &admin.FilterAdmin{Servers: srv, Node: "node-1"}
	for _, a := range []admin.Actor{f.daA, {Account: f.userA, Via: "api"}} {
		if _, err := f.svc.As(a).Filters(fa).FilterServers(ctx, true); !errors.Is(err, admin.ErrForbidden) {
			t.Errorf("%s: %v, want ErrForbidden", a.Account.Address, err)
		}
	}
	if checks != 0 {
		t.Fatalf("a refused caller ran %d checks", checks)
	}
	sys := f.svc.As(f.sys).Filters(fa)
	got, err := sys.FilterServers(ctx, false)
	if err != nil || got.Node != "node-1" || len(got.Servers) != 1 || got.Servers[0].Health != filter.HealthDown || checks != 1 {
		t.Fatalf("system admin: %+v %v (checks %d)", got, err, checks)
	}
	if _, err := sys.FilterServers(ctx, false); err != nil || checks != 1 {
		t.Fatalf("a fresh view checked again: %v (checks %d)", err, checks)
	}
	if _, err := sys.FilterServers(ctx, true); err != nil || checks != 2 {
		t.Fatalf("check now: %v (checks %d)", err, checks)
	}
	if _, err := f.svc.As(f.sys).Filters(nil).FilterServers(ctx, false); !errors.Is(err, admin.ErrNoFilters) {
		t.Fatalf("no filter state: %v", err)
	}
}
