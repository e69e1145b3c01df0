package admin

import (
	"errors"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

func acct(id int64, addr string, role directory.Role, domains ...string) directory.Account {
	return directory.Account{ID: id, Address: mail.MustParse(addr), Role: role, AdminDomains: domains}
}

// verdict names the outcome of a check: "ok", "403" (ErrForbidden) or "404" (ErrNotFound).
func verdict(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrForbidden):
		return "403"
	case errors.Is(err, directory.ErrNotFound):
		return "404"
	}
	return err.Error()
}

// The full matrix of who may manage whom: a domain admin never acts on an account that
// outranks it (a system admin, or a co-admin with a domain it lacks), never sees another
// tenant's accounts, and a user sees only itself.
func TestCheckManageAccountMatrix(t *testing.T) {
	sys := acct(1, "root@a.example", directory.RoleSystemAdmin)
	daA := acct(2, "da@a.example", directory.RoleDomainAdmin, "a.example")
	daAB := acct(3, "dab@a.example", directory.RoleDomainAdmin, "a.example", "b.example")
	userA := acct(4, "u@a.example", directory.RoleUser)
	userA2 := acct(5, "u2@a.example", directory.RoleUser)
	userB := acct(6, "u@b.example", directory.RoleUser)
	daB := acct(7, "da@b.example", directory.RoleDomainAdmin, "b.example")
	targets := []directory.Account{sys, daA, daAB, userA, userA2, userB, daB}
	want := map[string][]string{
		//            sys    daA    daAB   userA  userA2 userB  daB
		"system":   {"ok", "ok", "ok", "ok", "ok", "ok", "ok"},
		"sysadmin": {"ok", "ok", "ok", "ok", "ok", "ok", "ok"},
		"daA":      {"403", "ok", "403", "ok", "ok", "404", "404"},
		"daAB":     {"403", "ok", "ok", "ok", "ok", "ok", "ok"},
		"userA":    {"404", "404", "404", "ok", "404", "404", "404"},
	}
	actors := map[string]Actor{"system": SystemActor("cli"), "sysadmin": {Account: sys}, "daA": {Account: daA},
		"daAB": {Account: daAB}, "userA": {Account: userA}}
	for name, a := range actors {
		for i, tg := range targets {
			if got := verdict(a.CheckManageAccount(tg)); got != want[name][i] {
				t.Errorf("%s manages %s: %s, want %s", name, tg.Address, got, want[name][i])
			}
		}
	}
}

func TestCheckAccountUpdateFields(t *testing.T) {
	daA := acct(2, "da@a.example", directory.RoleDomainAdmin, "a.example")
	userA := acct(4, "u@a.example", directory.RoleUser)
	sys := acct(1, "root@a.example", directory.RoleSystemAdmin)
	role := func(r directory.Role) *directory.Role { return &r }
	doms := func(d ...string) *[]string { return &d }
	yes, no := true, false
	q := int64(5)
	pw := "new password"
	shard := "s2"
	cases := []struct {
		name   string
		actor  directory.Account
		target directory.Account
		u      directory.AccountUpdate
		want   string
	}{
		{"user own password", userA, userA, directory.AccountUpdate{Password: &pw}, "ok"},
		{"user own role (mass assignment)", userA, userA, directory.AccountUpdate{Password: &pw, Role: role(directory.RoleSystemAdmin)}, "403"},
		{"user own quota", userA, userA, directory.AccountUpdate{QuotaBytes: &q}, "403"},
		{"user own admin domains", userA, userA, directory.AccountUpdate{AdminDomains: doms("a.example")}, "403"},
		{"user own enabled", userA, userA, directory.AccountUpdate{Enabled: &yes}, "403"},
		{"user own services", userA, userA, directory.AccountUpdate{DisabledServices: doms()}, "403"},
		{"user own shard", userA, userA, directory.AccountUpdate{Shard: &shard}, "403"},
		{"admin disables self", daA, daA, directory.AccountUpdate{Enabled: &no}, "403"},
		{"admin demotes self", sys, sys, directory.AccountUpdate{Role: role(directory.RoleUser)}, "403"},
		{"admin own quota", daA, daA, directory.AccountUpdate{QuotaBytes: &q}, "ok"},
		{"da promotes user to da of A", daA, userA, directory.AccountUpdate{Role: role(directory.RoleDomainAdmin)}, "ok"},
		{"da promotes user to sysadmin", daA, userA, directory.AccountUpdate{Role: role(directory.RoleSystemAdmin)}, "403"},
		{"da grants B", daA, userA, directory.AccountUpdate{Role: role(directory.RoleDomainAdmin), AdminDomains: doms("b.example")}, "403"},
		{"da disables user", daA, userA, directory.AccountUpdate{Enabled: &no, QuotaBytes: &q}, "ok"},
		{"da moves shard", daA, userA, directory.AccountUpdate{Shard: &shard}, "403"},
		{"sysadmin grants anything", sys, userA, directory.AccountUpdate{Role: role(directory.RoleSystemAdmin)}, "ok"},
	}
	for _, c := range cases {
		if got := verdict(Actor{Account: c.actor}.CheckAccountUpdate(c.target, c.u)); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if got := verdict(SystemActor("cli").CheckAccountUpdate(userA, directory.AccountUpdate{Shard: &shard})); got != "ok" {
		t.Errorf("system moves shard: %s", got)
	}
	if got := verdict(Actor{Account: daA}.CheckDeleteAccount(daA)); got != "403" {
		t.Errorf("delete self: %s", got)
	}
}

func TestCheckCreateAccount(t *testing.T) {
	daA := Actor{Account: acct(2, "da@a.example", directory.RoleDomainAdmin, "a.example")}
	user := Actor{Account: acct(4, "u@a.example", directory.RoleUser)}
	n := func(addr string, r directory.Role, doms ...string) directory.NewAccount {
		return directory.NewAccount{Address: mail.MustParse(addr), Role: r, AdminDomains: doms}
	}
	cases := []struct {
		a    Actor
		n    directory.NewAccount
		want string
	}{
		{daA, n("x@a.example", ""), "ok"},
		{daA, n("x@a.example", directory.RoleDomainAdmin), "ok"},
		{daA, n("x@a.example", directory.RoleDomainAdmin, "b.example"), "403"},
		{daA, n("x@a.example", directory.RoleSystemAdmin), "403"},
		{daA, n("x@b.example", ""), "404"},
		{user, n("x@a.example", ""), "403"},
		{daA, directory.NewAccount{Address: mail.MustParse("x@a.example"), Shard: "s9"}, "403"},
	}
	for _, c := range cases {
		if got := verdict(c.a.CheckCreateAccount(c.n)); got != c.want {
			t.Errorf("%s creates %+v: %s, want %s", c.a.Account.Address, c.n, got, c.want)
		}
	}
}

func TestVisibleDomains(t *testing.T) {
	if v := SystemActor("cli").VisibleDomains(); v != nil {
		t.Errorf("system sees %v, want all (nil)", v)
	}
	if v := (Actor{Account: acct(1, "u@a.example", directory.RoleUser)}).VisibleDomains(); v == nil || len(v) != 0 {
		t.Errorf("user sees %v, want none", v)
	}
	if v := (Actor{Account: acct(1, "d@a.example", directory.RoleDomainAdmin, "a.example", "c.example")}).VisibleDomains(); len(v) != 2 {
		t.Errorf("domain admin sees %v", v)
	}
	if err := (Actor{Account: acct(1, "d@a.example", directory.RoleDomainAdmin, "a.example")}).CheckChangeDomains(); !errors.Is(err, ErrForbidden) {
		t.Errorf("domain admin changes domains: %v", err)
	}
}
