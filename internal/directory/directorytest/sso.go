package directorytest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// RunSSO runs the conformance cases of directory.SSOSecretStore and directory.SMSStore:
// secrets per domain (validated, replaced, removed, going with the domain), nonces usable
// once (also under concurrency) and purged after expiry, SMS rules per account (tenant
// checked, going with the account) and the SMS counters (outliving a deleted account,
// going with the domain).
func RunSSO(t *testing.T, open func(t *testing.T) directory.Directory) {
	cases := []struct {
		name string
		fn   func(t *testing.T, d directory.Directory)
	}{
		{"SSOSecret", testSSOSecret},
		{"SSONonce", testSSONonce},
		{"SMSRule", testSMSRule},
		{"SMSCounts", testSMSCounts},
		{"SMSCountsLifetime", testSMSCountsLifetime},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

func ssoStores(t *testing.T, d directory.Directory) (directory.SSOSecretStore, directory.SMSStore) {
	t.Helper()
	ss, ok := d.(directory.SSOSecretStore)
	if !ok {
		t.Fatalf("%T does not implement directory.SSOSecretStore", d)
	}
	ms, ok := d.(directory.SMSStore)
	if !ok {
		t.Fatalf("%T does not implement directory.SMSStore", d)
	}
	return ss, ms
}

func ssoDomain(t *testing.T, d directory.Directory, name string) {
	t.Helper()
	if err := d.CreateDomain(t.Context(), directory.Domain{Name: name, Enabled: true}); err != nil {
		t.Fatal(err)
	}
}

func testSSOSecret(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	ss, _ := ssoStores(t, d)
	ssoDomain(t, d, "a.example")
	ssoDomain(t, d, "b.example")
	if _, err := ss.SSOSecret(ctx, "a.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("no secret yet: %v", err)
	}
	if err := ss.SetSSOSecret(ctx, "a.example", "short"); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("short secret: %v", err)
	}
	if err := ss.SetSSOSecret(ctx, "nowhere.example", strings.Repeat("x", 32)); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unknown domain: %v", err)
	}
	s1, s2 := strings.Repeat("1", 40), strings.Repeat("2", 40)
	for _, s := range []string{s1, s2} {
		if err := ss.SetSSOSecret(ctx, "A.example", s); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := ss.SSOSecret(ctx, "a.example"); err != nil || got != s2 {
		t.Fatalf("secret after rotation = %q, %v", got, err)
	}
	if _, err := ss.SSOSecret(ctx, "b.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("other domain has none: %v", err)
	}
	if err := ss.SetSSOSecret(ctx, "a.example", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.SSOSecret(ctx, "a.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("removed: %v", err)
	}
	if err := ss.SetSSOSecret(ctx, "b.example", s1); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteDomain(ctx, "b.example", false); err != nil {
		t.Fatal(err)
	}
	ssoDomain(t, d, "b.example")
	if _, err := ss.SSOSecret(ctx, "b.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("a re-created domain inherits no secret: %v", err)
	}
}

func testSSONonce(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	ss, _ := ssoStores(t, d)
	now := time.Now().UTC()
	exp := now.Add(time.Minute)
	if ok, err := ss.UseSSONonce(ctx, "a.example", "n1", exp, now); err != nil || !ok {
		t.Fatalf("first use: %v %v", ok, err)
	}
	if ok, err := ss.UseSSONonce(ctx, "a.example", "n1", exp, now); err != nil || ok {
		t.Fatalf("replay: %v %v", ok, err)
	}
	if ok, err := ss.UseSSONonce(ctx, "b.example", "n1", exp, now); err != nil || !ok {
		t.Fatalf("another domain's nonce space: %v %v", ok, err)
	}
	if _, err := ss.UseSSONonce(ctx, "a.example", "", exp, now); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("empty nonce: %v", err)
	}
	// After expiry the row is purged: the link itself is refused for its age by the caller.
	later := exp.Add(time.Second)
	if ok, err := ss.UseSSONonce(ctx, "a.example", "n1", later.Add(time.Minute), later); err != nil || !ok {
		t.Fatalf("after purge: %v %v", ok, err)
	}
	// Concurrent uses of one nonce: exactly one wins.
	const n = 8
	var wg sync.WaitGroup
	wins := make(chan bool, n)
	for range n {
		wg.Go(func() {
			ok, err := ss.UseSSONonce(ctx, "a.example", "race", exp, now)
			if err != nil {
				t.Error(err)
			}
			wins <- ok
		})
	}
	wg.Wait()
	close(wins)
	got := 0
	for ok := range wins {
		if ok {
			got++
		}
	}
	if got != 1 {
		t.Fatalf("%d of %d concurrent uses succeeded, want 1", got, n)
	}
}

func ssoAccount(t *testing.T, d directory.Directory, addr string) directory.Account {
	t.Helper()
	a, err := d.CreateAccount(t.Context(), directory.NewAccount{Address: mail.MustParse(addr), Password: "pw-" + addr})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testSMSRule(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	_, ms := ssoStores(t, d)
	ssoDomain(t, d, "a.example")
	ssoDomain(t, d, "b.example")
	u := ssoAccount(t, d, "u@a.example")
	if _, err := ms.SMSRule(ctx, u.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("no rule yet: %v", err)
	}
	r := directory.SMSRule{AccountID: u.ID, Domain: "a.example", Phone: "0041 44 668-18-00", SubjectContains: " urgent ", Enabled: true}
	if err := ms.SetSMSRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := ms.SMSRule(ctx, u.ID)
	want := directory.SMSRule{AccountID: u.ID, Domain: "a.example", Phone: "+41446681800", SubjectContains: "urgent", Enabled: true}
	if err != nil || got != want {
		t.Fatalf("rule = %+v, %v; want %+v", got, err, want)
	}
	if !got.Matches("Boss <b@x.example>", "URGENT: call me") || got.Matches("b@x.example", "lunch") {
		t.Fatal("Matches")
	}
	bad := r
	bad.Phone = "+41 44 <script>"
	if err := ms.SetSMSRule(ctx, bad); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("bad phone: %v", err)
	}
	other := r
	other.Domain = "b.example"
	if err := ms.SetSMSRule(ctx, other); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("account of another domain: %v", err)
	}
	if got, _ := ms.SMSRule(ctx, u.ID); got != want {
		t.Fatalf("refused changes changed the rule: %+v", got)
	}
	if err := d.DeleteAccount(ctx, u.Address); err != nil {
		t.Fatal(err)
	}
	if _, err := ms.SMSRule(ctx, u.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("rule outlived its account: %v", err)
	}
	v := ssoAccount(t, d, "v@a.example")
	if err := ms.DeleteSMSRule(ctx, v.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("delete absent: %v", err)
	}
}

func testSMSCounts(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	_, ms := ssoStores(t, d)
	day1 := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	day2 := day1.Add(2 * time.Hour)
	for _, c := range []struct {
		dom  string
		id   int64
		kind directory.SMSKind
		at   time.Time
	}{
		{"a.example", 1, directory.SMSNotify, day1}, {"a.example", 1, directory.SMSSend, day1},
		{"a.example", 1, directory.SMSSend, day1}, {"a.example", 2, directory.SMSNotify, day2},
		{"b.example", 3, directory.SMSSend, day2},
	} {
		if err := ms.CountSMS(ctx, c.dom, c.id, "x@"+c.dom, c.kind, c.at); err != nil {
			t.Fatal(err)
		}
	}
	if err := ms.CountSMS(ctx, "a.example", 1, "x@a.example", "fax", day1); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("bad kind: %v", err)
	}
	got, err := ms.SMSCounts(ctx, "a.example", day1)
	if err != nil {
		t.Fatal(err)
	}
	want := []directory.SMSCount{
		{Domain: "a.example", AccountID: 1, Address: "x@a.example", Day: "2026-03-01", Notify: 1, Send: 2},
		{Domain: "a.example", AccountID: 2, Address: "x@a.example", Day: "2026-03-02", Notify: 1},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("counts = %+v\nwant %+v", got, want)
	}
	all, err := ms.SMSCounts(ctx, "", day2)
	if err != nil || len(all) != 2 {
		t.Fatalf("all domains since day 2 = %+v, %v", all, err)
	}
}

// testSMSCountsLifetime: a deleted account's SMS counters stay (the domain's statistics;
// they are keyed by the account's ID, never reused, so an account created again at the
// address starts at zero); a deleted domain's go with it.
func testSMSCountsLifetime(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	_, ms := ssoStores(t, d)
	ssoDomain(t, d, "a.example")
	ssoDomain(t, d, "b.example")
	day := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	u := ssoAccount(t, d, "u@a.example")
	w := ssoAccount(t, d, "w@b.example")
	for _, a := range []directory.Account{u, w} {
		if err := ms.CountSMS(ctx, a.Address.Domain, a.ID, a.Address.String(), directory.SMSSend, day); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.DeleteAccount(ctx, u.Address); err != nil {
		t.Fatal(err)
	}
	again := ssoAccount(t, d, "u@a.example")
	got, err := ms.SMSCounts(ctx, "a.example", day)
	if err != nil || len(got) != 1 || got[0].AccountID != u.ID || got[0].AccountID == again.ID {
		t.Fatalf("counts after the account's deletion: %+v, %v; want the old account's row only", got, err)
	}
	if err := d.DeleteDomain(ctx, "a.example", true); err != nil {
		t.Fatal(err)
	}
	if got, err := ms.SMSCounts(ctx, "a.example", day); err != nil || len(got) != 0 {
		t.Fatalf("counts of a deleted domain: %+v, %v", got, err)
	}
	if got, err := ms.SMSCounts(ctx, "b.example", day); err != nil || len(got) != 1 {
		t.Fatalf("counts of the other domain: %+v, %v", got, err)
	}
}
