package admin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/delivery"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
)

// Delete with grace, restore unchanged (mail and logins back), then a purge after the
// grace deletes the accounts' mail and the domain; only a system admin may do any of it.
func TestDomainDeleteRestorePurge(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sys, da := f.svc.As(f.sys), f.svc.As(f.daA)
	if _, err := sys.Broadcast(ctx, "b.example", "kept", "kept body"); err != nil {
		t.Fatal(err)
	}
	if err := da.DeleteDomain(ctx, "b.example", true); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("domain admin deletes another domain: %v", err)
	}
	if err := da.DeleteDomain(ctx, "a.example", true); !errors.Is(err, admin.ErrForbidden) {
		t.Errorf("domain admin deletes its domain: %v", err)
	}
	if err := sys.DeleteDomain(ctx, "b.example", false); !errors.Is(err, directory.ErrDomainNotEmpty) {
		t.Errorf("delete without force: %v", err)
	}
	if err := sys.DeleteDomain(ctx, "b.example", true); err != nil {
		t.Fatal(err)
	}
	d, err := sys.Domain(ctx, "b.example")
	if err != nil || !d.Deleted() || d.PurgeAt.Before(time.Now().Add(admin.DefaultDomainGrace-time.Hour)) {
		t.Errorf("deleted domain: %+v, %v", d, err)
	}
	if _, err := f.env.Dir.Authenticate(ctx, "u1@b.example", "user password"); !errors.Is(err, directory.ErrDisabled) {
		t.Errorf("login in a deleted domain: %v", err)
	}
	if _, err := da.RestoreDomain(ctx, "b.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("domain admin restores: %v", err)
	}
	if _, err := sys.RestoreDomain(ctx, "b.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.Dir.Authenticate(ctx, "u1@b.example", "user password"); err != nil {
		t.Errorf("login after restore: %v", err)
	}
	if n := f.env.Total(t, f.userB); n != 1 {
		t.Errorf("mail after restore: %d messages, want 1", n)
	}
	if purged, err := f.svc.PurgeDue(ctx); err != nil || len(purged) != 0 {
		t.Errorf("purge with nothing due: %v, %v", purged, err)
	}

	// A grace that has passed: restore refused, the purge takes everything.
	f.svc.DomainGrace = time.Nanosecond
	if err := sys.DeleteDomain(ctx, "b.example", true); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.RestoreDomain(ctx, "b.example"); !errors.Is(err, directory.ErrGraceOver) {
		t.Errorf("restore after the grace: %v", err)
	}
	purged, err := f.svc.PurgeDue(ctx)
	if err != nil || len(purged) != 1 || purged[0] != "b.example" {
		t.Fatalf("purge = %v, %v", purged, err)
	}
	if _, err := f.env.Dir.Domain(ctx, "b.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("purged domain: %v", err)
	}
	if mbs, err := f.env.Store.Mailboxes(ctx, admin.Ref(f.userB)); err == nil && len(mbs) > 0 || err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Errorf("purged account's mailboxes: %+v, %v", mbs, err)
	}
	es, err := sys.Audit(ctx, directory.AuditQuery{Domains: []string{"b.example"}})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Action)
	}
	if len(actions) < 3 {
		t.Errorf("audit of b.example: %v", actions)
	}
}

// Transfer: the previous admin loses the domain at its next request; the new one gets it.
func TestDomainTransfer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sys := f.svc.As(f.sys)
	if _, err := f.svc.As(f.daA).SetDomainAdmins(ctx, "a.example", []string{"u1@b.example"}); !errors.Is(err, admin.ErrForbidden) {
		t.Errorf("domain admin transfers its domain: %v", err)
	}
	admins, err := sys.SetDomainAdmins(ctx, "a.example", []string{"u1@b.example"})
	if err != nil || len(admins) != 1 || admins[0].Address.String() != "u1@b.example" {
		t.Fatalf("transfer = %+v, %v", admins, err)
	}
	actor := func(addr string) *admin.Scoped {
		a, err := f.env.Dir.Account(ctx, mail.MustParse(addr))
		if err != nil {
			t.Fatal(err)
		}
		return f.svc.As(admin.Actor{Account: a, Via: "api"})
	}
	if ds, err := actor("da@a.example").Domains(ctx); err != nil || len(ds) != 0 {
		t.Errorf("previous admin's domains: %+v, %v", ds, err)
	}
	if _, err := actor("da@a.example").Accounts(ctx, "a.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("previous admin lists accounts: %v", err)
	}
	if ds, err := actor("u1@b.example").Domains(ctx); err != nil || len(ds) != 1 || ds[0].Name != "a.example" {
		t.Errorf("new admin's domains: %+v, %v", ds, err)
	}
}

// Alias domains: created by a system admin only, seen by the admins of their target only.
func TestDomainAliasesScoped(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sys, da := f.svc.As(f.sys), f.svc.As(f.daA)
	if _, err := da.CreateDomainAlias(ctx, "a.example", "a.org"); !errors.Is(err, admin.ErrForbidden) {
		t.Errorf("domain admin creates an alias domain: %v", err)
	}
	if _, err := sys.CreateDomainAlias(ctx, "a.example", "A.ORG"); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.CreateDomainAlias(ctx, "b.example", "b.org"); err != nil {
		t.Fatal(err)
	}
	as, err := da.DomainAliases(ctx, "")
	if err != nil || len(as) != 1 || as[0].Name != "a.org" || as[0].Target != "a.example" {
		t.Errorf("domain admin's alias domains: %+v, %v", as, err)
	}
	if _, err := da.DomainAliases(ctx, "b.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("alias domains of another domain: %v", err)
	}
	if err := da.DeleteDomainAlias(ctx, "a.example", "a.org"); !errors.Is(err, admin.ErrForbidden) {
		t.Errorf("domain admin deletes an alias domain: %v", err)
	}
	if err := sys.DeleteDomainAlias(ctx, "a.example", "b.org"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("alias domain named under the wrong target: %v", err)
	}
	ts, err := f.env.Dir.Resolve(ctx, mail.MustParse("u1@a.org"))
	if err != nil || len(ts) != 1 || ts[0].Account == nil || ts[0].Account.ID != f.userA.ID {
		t.Errorf("Resolve via the alias domain: %+v, %v", ts, err)
	}
	if err := sys.DeleteDomainAlias(ctx, "a.example", "a.org"); err != nil {
		t.Fatal(err)
	}
}

// The DNS records of a domain include its alias domains' MX, SPF and DMARC.
func TestDomainAliasDNS(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sys := f.svc.As(f.sys)
	if _, err := sys.CreateDomainAlias(ctx, "a.example", "a.org"); err != nil {
		t.Fatal(err)
	}
	recs, err := f.svc.As(f.daA).DNSRecords(ctx, "a.example", admin.DNSSource{Host: "mx.example"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range recs {
		got[r.Purpose+" "+r.Name] = true
	}
	for _, want := range []string{"mx a.example", "mx a.org", "spf a.org", "dmarc _dmarc.a.org"} {
		if !got[want] {
			t.Errorf("DNS records lack %q: %v", want, got)
		}
	}
	if _, err := sys.DNSRecords(ctx, "a.org", admin.DNSSource{Host: "mx.example"}); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("records asked for by the alias domain's name: %v", err)
	}
}

// What RCPT TO answers (the delivery pipeline's CheckRecipient, as the SMTP server calls
// it): an alias-domain address is accepted only when the target address resolves; a
// deleted domain, and its alias domains, are refused for good (5xx, never relayed).
func TestRecipientsOfAliasAndDeletedDomains(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sys := f.svc.As(f.sys)
	if _, err := sys.CreateDomainAlias(ctx, "a.example", "a.org"); err != nil {
		t.Fatal(err)
	}
	rcpt := func(addr string) *delivery.Error {
		err := f.env.Pipeline.CheckRecipient(ctx, &delivery.Envelope{From: mail.MustParse("x@remote.example")}, mail.MustParse(addr))
		if err == nil {
			return nil
		}
		var de *delivery.Error
		if !errors.As(err, &de) {
			t.Fatalf("RCPT %s: %v is not a delivery.Error", addr, err)
		}
		return de
	}
	if e := rcpt("u1@a.org"); e != nil {
		t.Errorf("RCPT u1@a.org: %v", e)
	}
	if e := rcpt("nobody@a.org"); e == nil || e.Code != 550 || e.Enhanced != [3]int{5, 1, 1} {
		t.Errorf("RCPT nobody@a.org: %+v, want 550 5.1.1", e)
	}
	// DATA: stored once in the target account's INBOX.
	msg := "From: x@remote.example\r\nTo: u1@a.org\r\nSubject: via alias\r\n\r\nhello\r\n"
	res, err := f.env.Pipeline.Deliver(ctx, &delivery.Envelope{From: mail.MustParse("x@remote.example"),
		Recipients: []delivery.Recipient{{Addr: mail.MustParse("u1@a.org")}}}, delivery.Bytes([]byte(msg)))
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("deliver via the alias domain: %+v, %v", res, err)
	}
	if got := f.env.Messages(t, f.userA, ""); len(got) != 1 {
		t.Errorf("u1@a.example's INBOX: %d messages, want 1", len(got))
	}
	if err := sys.DeleteDomain(ctx, "a.example", true); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"u1@a.example", "u1@a.org"} {
		if e := rcpt(addr); e == nil || e.Temporary || e.Code != 550 || e.Enhanced != [3]int{5, 1, 2} {
			t.Errorf("RCPT %s of a deleted domain: %+v, want a permanent 550 5.1.2", addr, e)
		}
	}
}

// To its domain admin a deleted domain is gone: its accounts and aliases answer 404 until
// it is restored.
func TestDeletedDomainHiddenFromItsAdmin(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	da := f.svc.As(f.daA)
	if err := f.svc.As(f.sys).DeleteDomain(ctx, "a.example", true); err != nil {
		t.Fatal(err)
	}
	if _, err := da.Accounts(ctx, "a.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("accounts: %v", err)
	}
	if _, err := da.Account(ctx, "a.example", f.userA.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("account: %v", err)
	}
	if _, err := da.Aliases(ctx, "a.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("aliases: %v", err)
	}
	if _, err := da.Domain(ctx, "a.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("domain: %v", err)
	}
	if _, err := f.svc.As(f.sys).RestoreDomain(ctx, "a.example"); err != nil {
		t.Fatal(err)
	}
	if as, err := da.Accounts(ctx, "a.example"); err != nil || len(as) == 0 {
		t.Errorf("accounts after restore: %d, %v", len(as), err)
	}
}
