package directorytest

import (
	"fmt"
	"slices"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// Service switches on domains: stored sorted and unique, read back by Domain and Domains,
// replaced by UpdateDomain; an unknown name is refused and changes nothing.
func testDomainServices(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	err := d.CreateDomain(ctx, directory.Domain{Name: "s.example", Enabled: true, MaxUsers: 7,
		DisabledServices: []string{directory.ServicePOP3, "IMAP", directory.ServicePOP3}})
	if err != nil {
		t.Fatalf("CreateDomain with services: %v", err)
	}
	f.wantDomainServices("s.example", directory.ServiceIMAP, directory.ServicePOP3)
	all, err := d.Domains(ctx)
	if err != nil || len(all) != 1 || !slices.Equal(all[0].DisabledServices, []string{"imap", "pop3"}) {
		t.Errorf("Domains = %+v, %v; want s.example with [imap pop3]", all, err)
	}
	f.domain("plain.example", 0, 0)
	f.wantDomainServices("plain.example")

	dom, err := d.Domain(ctx, "s.example")
	if err != nil {
		t.Fatal(err)
	}
	dom.DisabledServices = []string{directory.ServiceWebmail, directory.ServiceManageSieve}
	if err := d.UpdateDomain(ctx, dom); err != nil {
		t.Fatalf("UpdateDomain(services): %v", err)
	}
	f.wantDomainServices("s.example", directory.ServiceManageSieve, directory.ServiceWebmail)

	bad := dom
	bad.MaxUsers = 99
	for _, list := range [][]string{{"smtp"}, {directory.ServiceIMAP, "nntp"}, {""}, {"imap,pop3"}} {
		bad.DisabledServices = list
		f.wantErr("UpdateDomain(services "+fmtList(list)+")", d.UpdateDomain(ctx, bad), directory.ErrInvalid)
		f.wantErr("CreateDomain(services "+fmtList(list)+")",
			d.CreateDomain(ctx, directory.Domain{Name: "bad.example", Enabled: true, DisabledServices: list}), directory.ErrInvalid)
	}
	got, err := d.Domain(ctx, "s.example")
	if err != nil || got.MaxUsers != 7 || !slices.Equal(got.DisabledServices, []string{"managesieve", "webmail"}) {
		t.Errorf("after refused updates: %+v, %v; want MaxUsers 7 and [managesieve webmail]", got, err)
	}
	_, err = d.Domain(ctx, "bad.example")
	f.wantErr("Domain(bad.example) after refused creations", err, directory.ErrNotFound)

	// UpdateDomain replaces the list like the other limits: none given, none kept.
	dom.DisabledServices = nil
	if err := d.UpdateDomain(ctx, dom); err != nil {
		t.Fatalf("UpdateDomain(no services): %v", err)
	}
	f.wantDomainServices("s.example")
}

// Service switches on accounts: set at creation, read back by every read, changed by
// UpdateAccount only when given; an unknown name is refused and changes nothing. They do
// not concern Authenticate or Resolve: an account with every service off still logs in
// (the front-end refuses the protocol) and still receives mail.
func testAccountServices(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("a.example", 0, 0)
	a := f.accountWith(directory.NewAccount{Address: mail.MustParse("x@a.example"),
		DisabledServices: []string{directory.ServiceSubmission, directory.ServicePOP3, "Pop3"}})
	if !slices.Equal(a.DisabledServices, []string{"pop3", "submission"}) {
		t.Errorf("CreateAccount returned services %q, want [pop3 submission]", a.DisabledServices)
	}
	f.wantAccountServices("x@a.example", directory.ServicePOP3, directory.ServiceSubmission)
	if b := f.account("y@a.example"); b.DisabledServices != nil {
		t.Errorf("default account services = %q, want none", b.DisabledServices)
	}

	upd := func(u directory.AccountUpdate) {
		t.Helper()
		if _, err := d.UpdateAccount(ctx, a.Address, u); err != nil {
			t.Fatalf("UpdateAccount(%+v): %v", u, err)
		}
	}
	upd(directory.AccountUpdate{DisabledServices: &[]string{directory.ServiceIMAP}})
	f.wantAccountServices("x@a.example", directory.ServiceIMAP)
	upd(directory.AccountUpdate{QuotaMessages: ptr[int64](10)}) // nil leaves them alone
	f.wantAccountServices("x@a.example", directory.ServiceIMAP)

	for _, list := range [][]string{{"ftp"}, {directory.ServiceWebmail, "smtp"}, {""}} {
		_, err := d.UpdateAccount(ctx, a.Address, directory.AccountUpdate{QuotaMessages: ptr[int64](99), DisabledServices: &list})
		f.wantErr("UpdateAccount(services "+fmtList(list)+")", err, directory.ErrInvalid)
		_, err = d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("z@a.example"), Password: Password, DisabledServices: list})
		f.wantErr("CreateAccount(services "+fmtList(list)+")", err, directory.ErrInvalid)
	}
	got := f.wantAccountServices("x@a.example", directory.ServiceIMAP)
	if got.QuotaMessages != 10 {
		t.Errorf("QuotaMessages after refused updates = %d, want 10", got.QuotaMessages)
	}
	_, err := d.Account(ctx, mail.MustParse("z@a.example"))
	f.wantErr("Account(z) after refused creations", err, directory.ErrNotFound)

	all := directory.Services()
	upd(directory.AccountUpdate{DisabledServices: &all})
	if acct, err := d.Authenticate(ctx, "x@a.example", Password); err != nil || len(acct.DisabledServices) != len(all) {
		t.Errorf("Authenticate(every service off) = %q, %v; want a login carrying the switches", acct.DisabledServices, err)
	}
	f.wantResolve("x@a.example", "acct:x@a.example")
	upd(directory.AccountUpdate{DisabledServices: &[]string{}})
	f.wantAccountServices("x@a.example")
}

// ServiceAllowed over records read back from the directory: a service is allowed only
// when neither the domain nor the account disables it.
func testServiceAllowed(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	if err := d.CreateDomain(ctx, directory.Domain{Name: "t.example", Enabled: true,
		DisabledServices: []string{directory.ServicePOP3, directory.ServiceManageSieve}}); err != nil {
		t.Fatal(err)
	}
	f.domain("other.example", 0, 0)
	f.accountWith(directory.NewAccount{Address: mail.MustParse("a@t.example"),
		DisabledServices: []string{directory.ServiceIMAP, directory.ServicePOP3}})
	f.account("b@t.example")
	dom, err := d.Domain(ctx, "t.example")
	if err != nil {
		t.Fatal(err)
	}
	other, err := d.Domain(ctx, "other.example")
	if err != nil {
		t.Fatal(err)
	}
	a, err := d.Account(ctx, mail.MustParse("a@t.example"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Authenticate(ctx, "b@t.example", Password)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]bool{ // service: {a allowed, b allowed}
		directory.ServiceIMAP:        {false, true},  // account switch
		directory.ServicePOP3:        {false, false}, // both
		directory.ServiceManageSieve: {false, false}, // domain switch
		directory.ServiceSubmission:  {true, true},
		directory.ServiceWebmail:     {true, true},
		directory.ServiceSMS:         {true, true},
	}
	if len(want) != len(directory.Services()) {
		t.Fatalf("table covers %d services, directory.Services() has %d", len(want), len(directory.Services()))
	}
	for _, svc := range directory.Services() {
		for i, acct := range []directory.Account{a, b} {
			if got := directory.ServiceAllowed(dom, acct, svc); got != want[svc][i] {
				t.Errorf("ServiceAllowed(%s, %s) = %v, want %v", acct.Address, svc, got, want[svc][i])
			}
			if directory.ServiceAllowed(other, acct, directory.ServiceWebmail) {
				t.Errorf("ServiceAllowed with another tenant's domain allowed %s", acct.Address)
			}
		}
	}
	if directory.ServiceAllowed(dom, b, "nntp") {
		t.Error("ServiceAllowed of an unknown service = true")
	}
	dom.DisabledServices = nil
	if err := d.UpdateDomain(ctx, dom); err != nil {
		t.Fatal(err)
	}
	if dom, err = d.Domain(ctx, "t.example"); err != nil {
		t.Fatal(err)
	}
	if !directory.ServiceAllowed(dom, b, directory.ServicePOP3) || directory.ServiceAllowed(dom, a, directory.ServicePOP3) {
		t.Error("after the domain re-enabled pop3: b must be allowed, a (own switch) still refused")
	}
}

// wantDomainServices checks the domain's stored switches.
func (f *fixture) wantDomainServices(name string, want ...string) {
	f.t.Helper()
	got, err := f.d.Domain(f.ctx, name)
	if err != nil || !sameServices(got.DisabledServices, want) {
		f.t.Errorf("Domain(%s).DisabledServices = %q, %v; want %q", name, got.DisabledServices, err, want)
	}
}

// wantAccountServices checks the account's switches as Account, AccountByID and Accounts
// return them, and returns the account.
func (f *fixture) wantAccountServices(addr string, want ...string) directory.Account {
	f.t.Helper()
	a, err := f.d.Account(f.ctx, mail.MustParse(addr))
	if err != nil || !sameServices(a.DisabledServices, want) {
		f.t.Errorf("Account(%s).DisabledServices = %q, %v; want %q", addr, a.DisabledServices, err, want)
	}
	if b, err := f.d.AccountByID(f.ctx, a.Address.Domain, a.ID); err != nil || !sameServices(b.DisabledServices, want) {
		f.t.Errorf("AccountByID(%s).DisabledServices = %q, %v; want %q", addr, b.DisabledServices, err, want)
	}
	list, err := f.d.Accounts(f.ctx, a.Address.Domain)
	if err != nil {
		f.t.Fatalf("Accounts: %v", err)
	}
	for _, c := range list {
		if c.ID == a.ID && !sameServices(c.DisabledServices, want) {
			f.t.Errorf("Accounts: %s has %q, want %q", addr, c.DisabledServices, want)
		}
	}
	return a
}

// sameServices compares a read list with the expected one; none is nil, never empty.
func sameServices(got, want []string) bool {
	if len(want) == 0 {
		return got == nil
	}
	return slices.Equal(got, want)
}

func fmtList(l []string) string { return fmt.Sprintf("%q", l) }
