// Package directorytest is the conformance suite every directory.Directory driver must pass.
//
// Run executes one subtest per contract of package directory against a fresh, empty
// directory from the driver's open function: domains and their limits, IDNA names given in
// Unicode or punycode, SMTPUTF8 and case-folded addresses, accounts and roles, aliases and
// catch-alls, the resolution order (exact account, exact alias, sub-address base, catch-all),
// one-level alias expansion, disabled accounts and domains, authentication, SendAs,
// cross-tenant refusal, limits under concurrent creation, and the per-domain and
// per-account service switches (DisabledServices, ServiceAllowed).
//
// The suite only uses the Directory interface, plus PasswordHashSetter when the driver
// implements it (hash imports and rehash on login). It asserts behaviour, never timing.
// Target lists are compared as sets: the contract does not fix their order.
package directorytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// PasswordHashSetter is the optional driver add-on for importing already hashed passwords
// (argon2id or bcrypt PHC/crypt strings, see directory.ValidHash).
type PasswordHashSetter interface {
	SetPasswordHash(ctx context.Context, addr mail.Address, hash string) error
}

// Password is the password the suite gives every account it creates.
const Password = "Tr0ub4dor&3 horse"

// Run runs the suite. open must return a new, empty directory and close it with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) directory.Directory) {
	cases := []struct {
		name string
		fn   func(f *fixture)
	}{
		{"DomainCRUD", testDomainCRUD},
		{"DomainInvalid", testDomainInvalid},
		{"DomainIDNA", testDomainIDNA},
		{"IsLocalDomain", testIsLocalDomain},
		{"DeleteDomain", testDeleteDomain},
		{"DeleteDomainForce", testDeleteDomainForce},
		{"AccountDefaults", testAccountDefaults},
		{"AccountErrors", testAccountErrors},
		{"AccountCaseAndUTF8", testAccountCaseAndUTF8},
		{"AccountByIDCrossTenant", testAccountByIDCrossTenant},
		{"AccountsList", testAccountsList},
		{"AccountRoles", testAccountRoles},
		{"UpdateAccount", testUpdateAccount},
		{"UpdateAccountAtomic", testUpdateAccountAtomic},
		{"DeleteAccount", testDeleteAccount},
		{"AccountStanding", testAccountStanding},
		{"LimitMaxUsers", testLimitMaxUsers},
		{"LimitQuota", testLimitQuota},
		{"ConcurrentMaxUsers", testConcurrentMaxUsers},
		{"ConcurrentSameAddress", testConcurrentSameAddress},
		{"AliasCRUD", testAliasCRUD},
		{"AliasErrors", testAliasErrors},
		{"ResolveExact", testResolveExact},
		{"ResolveSubAddress", testResolveSubAddress},
		{"ResolveCatchAll", testResolveCatchAll},
		{"ResolveAliasRemote", testResolveAliasRemote},
		{"ResolveAliasOneLevel", testResolveAliasOneLevel},
		{"ResolveDisabled", testResolveDisabled},
		{"ResolveCrossDomainAlias", testResolveCrossDomainAlias},
		{"Authenticate", testAuthenticate},
		{"AuthenticateDisabled", testAuthenticateDisabled},
		{"AuthenticateRehash", testAuthenticateRehash},
		{"AuthenticateRepeated", testAuthenticateRepeated},
		{"SendAs", testSendAs},
		{"SendAsRefusals", testSendAsRefusals},
		{"DomainServices", testDomainServices},
		{"AccountServices", testAccountServices},
		{"ServiceAllowed", testServiceAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(&fixture{t: t, d: open(t), ctx: t.Context()})
		})
	}
}

// fixture bundles what every test needs.
type fixture struct {
	t   *testing.T
	d   directory.Directory
	ctx context.Context
}

// domain creates an enabled domain with the given limits.
func (f *fixture) domain(name string, maxUsers int, maxQuota int64) {
	f.t.Helper()
	err := f.d.CreateDomain(f.ctx, directory.Domain{Name: name, Enabled: true, MaxUsers: maxUsers, MaxQuotaBytes: maxQuota})
	if err != nil {
		f.t.Fatalf("CreateDomain(%q): %v", name, err)
	}
}

// account creates a user account with the suite's password.
func (f *fixture) account(addr string) directory.Account {
	f.t.Helper()
	return f.accountWith(directory.NewAccount{Address: mail.MustParse(addr)})
}

func (f *fixture) accountWith(n directory.NewAccount) directory.Account {
	f.t.Helper()
	if n.Password == "" {
		n.Password = Password
	}
	a, err := f.d.CreateAccount(f.ctx, n)
	if err != nil {
		f.t.Fatalf("CreateAccount(%s): %v", n.Address, err)
	}
	return a
}

func (f *fixture) alias(source string, targets ...string) {
	f.t.Helper()
	if err := f.d.CreateAlias(f.ctx, directory.Alias{Source: source, Targets: targets}); err != nil {
		f.t.Fatalf("CreateAlias(%q -> %q): %v", source, targets, err)
	}
}

func (f *fixture) setDomainEnabled(name string, on bool) {
	f.t.Helper()
	dom, err := f.d.Domain(f.ctx, name)
	if err != nil {
		f.t.Fatalf("Domain(%q): %v", name, err)
	}
	dom.Enabled = on
	if err := f.d.UpdateDomain(f.ctx, dom); err != nil {
		f.t.Fatalf("UpdateDomain(%q): %v", name, err)
	}
}

func (f *fixture) setAccountEnabled(addr string, on bool) {
	f.t.Helper()
	if _, err := f.d.UpdateAccount(f.ctx, mail.MustParse(addr), directory.AccountUpdate{Enabled: &on}); err != nil {
		f.t.Fatalf("UpdateAccount(%s, enabled=%v): %v", addr, on, err)
	}
}

// wantErr fails unless err matches target (nil target: err must be nil).
func (f *fixture) wantErr(what string, err, target error) {
	f.t.Helper()
	if target == nil && err != nil || target != nil && !errors.Is(err, target) {
		f.t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

// resolve returns Resolve's targets as sorted strings: "acct:<key>[+detail]" or
// "remote:<key>".
func (f *fixture) resolve(rcpt string) ([]string, error) {
	f.t.Helper()
	ts, err := f.d.Resolve(f.ctx, mail.MustParse(rcpt))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		switch {
		case t.Account != nil && t.Remote.IsZero():
			s := "acct:" + t.Account.Address.Key()
			if t.Detail != "" {
				s += "+" + t.Detail
			}
			out = append(out, s)
		case t.Account == nil && !t.Remote.IsZero():
			out = append(out, "remote:"+t.Remote.Key())
		default:
			f.t.Errorf("Resolve(%s): target %+v has not exactly one of Account and Remote", rcpt, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// wantResolve checks Resolve(rcpt) gives exactly want (in any order).
func (f *fixture) wantResolve(rcpt string, want ...string) {
	f.t.Helper()
	got, err := f.resolve(rcpt)
	if err != nil {
		f.t.Errorf("Resolve(%s): %v, want %v", rcpt, err, want)
		return
	}
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		f.t.Errorf("Resolve(%s) = %v, want %v", rcpt, got, want)
	}
}

// wantResolveErr checks Resolve(rcpt) fails with target.
func (f *fixture) wantResolveErr(rcpt string, target error) {
	f.t.Helper()
	got, err := f.resolve(rcpt)
	if !errors.Is(err, target) {
		f.t.Errorf("Resolve(%s) = %v, %v; want error %v", rcpt, got, err, target)
	}
}

func (f *fixture) wantSendAs(acct directory.Account, from string, want bool) {
	f.t.Helper()
	ok, err := f.d.SendAs(f.ctx, acct, mail.MustParse(from))
	if err != nil || ok != want {
		f.t.Errorf("SendAs(%s, %s) = %v, %v; want %v", acct.Address, from, ok, err, want)
	}
}

func (f *fixture) aliasesOf(domain string) []string {
	f.t.Helper()
	as, err := f.d.Aliases(f.ctx, domain)
	if err != nil {
		f.t.Fatalf("Aliases(%q): %v", domain, err)
	}
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s[%s]->%s", a.Source, a.Domain, strings.Join(a.Targets, ",")))
	}
	return out
}

func ptr[T any](v T) *T { return &v }
