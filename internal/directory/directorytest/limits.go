package directorytest

import (
	"errors"
	"fmt"
	"sync"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

func testLimitMaxUsers(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("two.example", 2, 0)
	f.account("a@two.example")
	f.account("b@two.example")
	_, err := d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("c@two.example"), Password: Password})
	f.wantErr("CreateAccount(over MaxUsers)", err, directory.ErrLimit)
	// Aliases do not count as users.
	f.alias("list@two.example", "a@two.example")
	// Freeing a slot or raising the limit lets the next one in.
	if err := d.DeleteAccount(ctx, mail.MustParse("b@two.example")); err != nil {
		t.Fatal(err)
	}
	f.account("c@two.example")
	if err := d.UpdateDomain(ctx, directory.Domain{Name: "two.example", Enabled: true, MaxUsers: 3}); err != nil {
		t.Fatal(err)
	}
	f.account("d@two.example")
	_, err = d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("e@two.example"), Password: Password})
	f.wantErr("CreateAccount(over raised MaxUsers)", err, directory.ErrLimit)
}

func testLimitQuota(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("q.example", 0, 1000)
	_, err := d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("big@q.example"), Password: Password, QuotaBytes: 1001})
	f.wantErr("CreateAccount(quota over MaxQuotaBytes)", err, directory.ErrLimit)
	_, err = d.Account(ctx, mail.MustParse("big@q.example"))
	f.wantErr("Account(refused)", err, directory.ErrNotFound)
	a := f.accountWith(directory.NewAccount{Address: mail.MustParse("max@q.example"), QuotaBytes: 1000})
	if a.QuotaBytes != 1000 {
		t.Errorf("quota at the maximum = %d", a.QuotaBytes)
	}
	_, err = d.UpdateAccount(ctx, a.Address, directory.AccountUpdate{QuotaBytes: ptr(int64(2000))})
	f.wantErr("UpdateAccount(quota over MaxQuotaBytes)", err, directory.ErrLimit)
	got, err := d.UpdateAccount(ctx, a.Address, directory.AccountUpdate{QuotaBytes: ptr(int64(10))})
	if err != nil || got.QuotaBytes != 10 {
		t.Errorf("UpdateAccount(quota under max) = %d, %v", got.QuotaBytes, err)
	}
}

// Concurrent creations never overshoot MaxUsers: exactly the limit succeeds.
func testConcurrentMaxUsers(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	const limit, tries = 3, 10
	f.domain("race.example", limit, 0)
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() {
			_, errs[i] = d.CreateAccount(ctx, directory.NewAccount{
				Address: mail.MustParse(fmt.Sprintf("user%d@race.example", i)), Password: Password})
		})
	}
	wg.Wait()
	ok, limited := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, directory.ErrLimit):
			limited++
		default:
			t.Errorf("CreateAccount #%d: %v, want nil or ErrLimit", i, err)
		}
	}
	if ok != limit || limited != tries-limit {
		t.Errorf("%d created and %d refused with ErrLimit; want %d and %d", ok, limited, limit, tries-limit)
	}
	if all, err := d.Accounts(ctx, "race.example"); err != nil || len(all) != limit {
		t.Errorf("Accounts = %d, %v; want %d", len(all), err, limit)
	}
}

// Concurrent creations of one address (in different spellings) create it once.
func testConcurrentSameAddress(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("race.example", 0, 0)
	spellings := []string{"same@race.example", "SAME@race.example", "Same@RACE.example", "same@Race.Example", "sAme@race.example", "samE@race.example"}
	errs := make([]error, len(spellings))
	var wg sync.WaitGroup
	for i, s := range spellings {
		wg.Go(func() {
			_, errs[i] = d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse(s), Password: Password})
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, directory.ErrExists):
			t.Errorf("CreateAccount(%s): %v, want nil or ErrExists", spellings[i], err)
		}
	}
	if all, err := d.Accounts(ctx, "race.example"); ok != 1 || err != nil || len(all) != 1 {
		t.Errorf("%d creations succeeded, %d accounts (%v); want exactly 1", ok, len(all), err)
	}
}
