package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/config"
	"mailgrid/internal/contacts"
	"mailgrid/internal/directory"
	"mailgrid/internal/fetch"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/schedule"
	"mailgrid/internal/testkit/pgtest"
)

// TestDeleteAccountPurgesStores: deleting an account (the API's scoped call) empties
// every store of what it kept — filter state, address book and group-book editor grant,
// scheduled sends, external accounts, SMS rule, web session, API token, TOTP — and
// leaves the other account's; the address created again inherits none of it. The domain
// purge then empties the domain's group book, scheduled sends and external accounts.
// Both shapes: embedded (SQLite) and a cluster node (PostgreSQL).
func TestDeleteAccountPurgesStores(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		c := config.Default()
		c.Data, c.Hostname, c.Listen = t.TempDir(), "mx.purge.test", config.Listen{}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		testDeleteAccountPurges(t, openSystem(t, c))
	})
	t.Run("cluster", func(t *testing.T) {
		pgtest.DSN(t) // skips (fails when CI=true) without PostgreSQL
		a, _, _ := twoShardCluster(t)
		testDeleteAccountPurges(t, a)
	})
}

func testDeleteAccountPurges(t *testing.T, s *System) {
	ctx := context.Background()
	if _, err := s.Admin.AddDomain(ctx, directory.Domain{Name: "purge.test"}); err != nil {
		t.Fatal(err)
	}
	gone := addAccount(t, s, "gone@purge.test")
	kept := addAccount(t, s, "kept@purge.test")
	for _, a := range []directory.Account{gone, kept} {
		seedAccountState(t, s, a)
	}
	withContacts(t, s, func(cs contacts.Store) error {
		return cs.SetEditors(ctx, "purge.test", []int64{gone.ID, kept.ID})
	})
	sys := s.Admin.As(admin.SystemActor("test"))
	if err := sys.DeleteAccount(ctx, "purge.test", gone.ID); err != nil {
		t.Fatal(err)
	}
	if got := accountState(t, s, gone); got != (stateCount{}) {
		t.Errorf("the deleted account's state: %+v, want none", got)
	}
	if got, want := accountState(t, s, kept), fullState(); got != want {
		t.Errorf("the other account's state: %+v, want %+v", got, want)
	}
	withContacts(t, s, func(cs contacts.Store) error {
		ids, err := cs.Editors(ctx, "purge.test")
		if err == nil && (len(ids) != 1 || ids[0] != kept.ID) {
			t.Errorf("group book editors after the deletion: %v", ids)
		}
		return err
	})
	again := addAccount(t, s, "gone@purge.test")
	if again.ID == gone.ID {
		t.Fatalf("the re-created account got the old ID %d", gone.ID)
	}
	if got := accountState(t, s, again); got != (stateCount{}) {
		t.Errorf("the re-created account inherits %+v", got)
	}

	// The domain purge: the group book, the rest of the scheduled sends and external
	// accounts go too.
	withContacts(t, s, func(cs contacts.Store) error {
		_, err := cs.Add(ctx, contacts.Book{Domain: "purge.test"}, contacts.Contact{Name: "Group entry", Emails: []string{"g@x.example"}})
		return err
	})
	if err := sys.DeleteDomain(ctx, "purge.test", true); err != nil {
		t.Fatal(err)
	}
	if err := sys.PurgeDomain(ctx, "purge.test"); err != nil {
		t.Fatal(err)
	}
	if got := accountState(t, s, kept); got != (stateCount{}) {
		t.Errorf("state of an account of the purged domain: %+v", got)
	}
	withContacts(t, s, func(cs contacts.Store) error {
		g, err := cs.List(ctx, contacts.Book{Domain: "purge.test"}, contacts.Query{})
		if err == nil && len(g) != 0 {
			t.Errorf("the purged domain's group book: %d contacts", len(g))
		}
		return err
	})
}

func addAccount(t testing.TB, s *System, addr string) directory.Account {
	t.Helper()
	a, err := s.Admin.AddAccount(context.Background(), directory.NewAccount{Address: mail.MustParse(addr), Password: "pw-secret-1"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// stateCount is how much an account has in each place.
type stateCount struct {
	Scripts, Docs, Contacts, Scheduled, Fetch, SMSRule, Sessions, Tokens, TOTP int
}

func fullState() stateCount {
	return stateCount{Scripts: 1, Docs: 1, Contacts: 1, Scheduled: 1, Fetch: 1, SMSRule: 1, Sessions: 1, Tokens: 1, TOTP: 1}
}

func tokenHash(a directory.Account, kind string) []byte {
	h := sha256.Sum256([]byte(kind + a.Address.String()))
	return h[:]
}

// seedAccountState gives a one of everything fullState counts.
func seedAccountState(t testing.TB, s *System, a directory.Account) {
	t.Helper()
	ctx := context.Background()
	ref := admin.Ref(a)
	db, err := s.openFilterState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = errors.Join(db.PutScript(ctx, ref, "mailgrid-webmail", "keep;"), db.SetActive(ctx, ref, "mailgrid-webmail"),
		db.PutDoc(ctx, ref, "prefs", []byte(`{}`)), db.Close())
	if err != nil {
		t.Fatal(err)
	}
	withContacts(t, s, func(cs contacts.Store) error {
		_, err := cs.Add(ctx, contacts.Book{Domain: a.Address.Domain, Account: a.ID}, contacts.Contact{Name: "Friend", Emails: []string{"f@x.example"}})
		return err
	})
	st, err := s.openSchedule()
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Add(ctx, schedule.Item{Owner: schedule.Owner{Domain: a.Address.Domain, Account: a.ID}, Due: time.Now().Add(time.Hour),
		From: a.Address.String(), Rcpts: []string{"x@x.example"}, Message: []byte("Subject: later\r\n\r\nhi\r\n"), Created: time.Now()})
	if err = errors.Join(err, st.Close()); err != nil {
		t.Fatal(err)
	}
	fs, err := s.openFetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fs.Add(ctx, fetch.Account{Owner: ref, Host: "pop.x.example", User: "u", Secret: []byte("sealed")})
	if err = errors.Join(err, fs.Close()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	w := s.Dir.(directory.WebAuthStore)
	if _, err := w.CreateSession(ctx, directory.WebSession{TokenHash: tokenHash(a, "s"), AccountID: a.ID, Domain: a.Address.Domain,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateAPIToken(ctx, directory.APIToken{TokenHash: tokenHash(a, "t"), AccountID: a.ID, Domain: a.Address.Domain, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetTOTP(ctx, a.ID, "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	if err := s.Dir.(directory.SMSStore).SetSMSRule(ctx, directory.SMSRule{AccountID: a.ID, Domain: a.Address.Domain, Phone: "+15550100", Enabled: true}); err != nil {
		t.Fatal(err)
	}
}

// accountState counts what a (by its ID; a session and token by the secrets
// seedAccountState gave the address) has in each place.
func accountState(t testing.TB, s *System, a directory.Account) stateCount {
	t.Helper()
	ctx := context.Background()
	ref := admin.Ref(a)
	var n stateCount
	db, err := s.openFilterState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := db.Scripts(ctx, ref)
	n.Scripts = len(scripts)
	if _, derr := db.Doc(ctx, ref, "prefs"); derr == nil {
		n.Docs = 1
	} else if !errors.Is(derr, filter.ErrNotFound) {
		err = errors.Join(err, derr)
	}
	if err = errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	withContacts(t, s, func(cs contacts.Store) error {
		l, err := cs.List(ctx, contacts.Book{Domain: a.Address.Domain, Account: a.ID}, contacts.Query{})
		n.Contacts = len(l)
		return err
	})
	st, err := s.openSchedule()
	if err != nil {
		t.Fatal(err)
	}
	items, err := st.List(ctx, schedule.Owner{Domain: a.Address.Domain, Account: a.ID})
	n.Scheduled = len(items)
	if err = errors.Join(err, st.Close()); err != nil {
		t.Fatal(err)
	}
	fs, err := s.openFetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := fs.List(ctx, ref)
	n.Fetch = len(fl)
	if err = errors.Join(err, fs.Close()); err != nil {
		t.Fatal(err)
	}
	w := s.Dir.(directory.WebAuthStore)
	n.Sessions = present(t, func() error { _, err := w.SessionByToken(ctx, tokenHash(a, "s"), time.Now()); return err })
	n.Tokens = present(t, func() error { _, err := w.APITokenByHash(ctx, tokenHash(a, "t"), time.Now()); return err })
	n.TOTP = present(t, func() error { _, err := w.TOTP(ctx, a.ID); return err })
	n.SMSRule = present(t, func() error { _, err := s.Dir.(directory.SMSStore).SMSRule(ctx, a.ID); return err })
	return n
}

// present is 1 when get finds its row, 0 when it answers directory.ErrNotFound.
func present(t testing.TB, get func() error) int {
	t.Helper()
	switch err := get(); {
	case err == nil:
		return 1
	case errors.Is(err, directory.ErrNotFound):
		return 0
	default:
		t.Fatal(err)
		return 0
	}
}

func withContacts(t testing.TB, s *System, fn func(contacts.Store) error) {
	t.Helper()
	if err := s.withContactsStore(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}
