package directorytest

import (
	"errors"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

func testAuthenticate(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("example.test", 0, 0)
	f.domain("bücher.example", 0, 0)
	alice := f.account("Alice@example.test")
	elodie := f.account("élodie@bücher.example")
	for login, id := range map[string]int64{
		"Alice@example.test": alice.ID, "alice@EXAMPLE.TEST": alice.ID,
		"élodie@bücher.example": elodie.ID, "ÉLODIE@xn--bcher-kva.example": elodie.ID,
	} {
		a, err := d.Authenticate(ctx, login, Password)
		if err != nil || a.ID != id {
			t.Errorf("Authenticate(%s) = %d %s, %v; want account %d", login, a.ID, a.Address, err, id)
		}
	}
	// Every failure is the same ErrAuthFailed: no telling unknown users from bad passwords.
	for _, c := range []struct{ login, pw string }{
		{"alice@example.test", Password + "x"},
		{"alice@example.test", strings.ToUpper(Password)},
		{"alice@example.test", ""},
		{"alice@example.test", strings.Repeat("p", 2000)},
		{"nobody@example.test", Password},
		{"alice@unknown.example", Password},
		{"alice", Password},
		{"", Password},
		{"alice@example.test\x00", Password},
		{"alice+tag@example.test", Password},
	} {
		a, err := d.Authenticate(ctx, c.login, c.pw)
		if !errors.Is(err, directory.ErrAuthFailed) || errors.Is(err, directory.ErrNotFound) || a.ID != 0 {
			t.Errorf("Authenticate(%q, len %d) = %d, %v; want only ErrAuthFailed", c.login, len(c.pw), a.ID, err)
		}
	}
}

// ErrDisabled is only told to someone who knows the password.
func testAuthenticateDisabled(f *fixture) {
	d, ctx := f.d, f.ctx
	f.domain("a.example", 0, 0)
	f.account("u@a.example")
	f.setAccountEnabled("u@a.example", false)
	_, err := d.Authenticate(ctx, "u@a.example", Password)
	f.wantErr("Authenticate(disabled account)", err, directory.ErrDisabled)
	_, err = d.Authenticate(ctx, "u@a.example", "wrong password")
	f.wantErr("Authenticate(disabled account, wrong password)", err, directory.ErrAuthFailed)
	f.setAccountEnabled("u@a.example", true)
	f.setDomainEnabled("a.example", false)
	_, err = d.Authenticate(ctx, "u@a.example", Password)
	f.wantErr("Authenticate(disabled domain)", err, directory.ErrDisabled)
	_, err = d.Authenticate(ctx, "u@a.example", "wrong password")
	f.wantErr("Authenticate(disabled domain, wrong password)", err, directory.ErrAuthFailed)
	f.setDomainEnabled("a.example", true)
	_, err = d.Authenticate(ctx, "u@a.example", Password)
	f.wantErr("Authenticate(enabled again)", err, nil)
}

// Imported hashes (bcrypt, old argon2id parameters) verify and are replaced by a current
// argon2id hash at the first successful login.
func testAuthenticateRehash(f *fixture) {
	t, ctx := f.t, f.ctx
	hs, ok := f.d.(PasswordHashSetter)
	if !ok {
		// Every driver offers it: the CLI imports bcrypt and older hashes through it.
		t.Fatal("driver does not implement PasswordHashSetter")
	}
	f.domain("a.example", 0, 0)
	f.account("imp@a.example")
	addr := mail.MustParse("imp@a.example")
	gen, err := bcrypt.GenerateFromPassword([]byte("legacy pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	imports := []struct{ hash, pw string }{
		{"$2y$" + string(gen[4:]), "legacy pass"},
		// argon2 reference command: -id -t 3 -k 4096 -p 2 -l 32, salt "othersalt12345".
		{"$argon2id$v=19$m=4096,t=3,p=2$b3RoZXJzYWx0MTIzNDU$HTwh0tOrPtx4CGkRIKqZxLsKuTjDndXXXLtHYd8tDLs", "correct horse battery staple"},
	}
	for _, imp := range imports {
		if err := hs.SetPasswordHash(ctx, addr, imp.hash); err != nil {
			t.Fatalf("SetPasswordHash: %v", err)
		}
		_, err := f.d.Authenticate(ctx, "imp@a.example", imp.pw+"!")
		f.wantErr("Authenticate(imported, wrong)", err, directory.ErrAuthFailed)
		if a, _ := f.d.Account(ctx, addr); a.PasswordHash != imp.hash {
			t.Errorf("a failed login changed the hash to %q", a.PasswordHash)
		}
		if _, err := f.d.Authenticate(ctx, "IMP@a.example", imp.pw); err != nil {
			t.Fatalf("Authenticate(imported %.4s): %v", imp.hash, err)
		}
		a, err := f.d.Account(ctx, addr)
		if err != nil || !strings.HasPrefix(a.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Errorf("hash after login = %q, %v; want a current argon2id hash", a.PasswordHash, err)
		}
		if ok, rehash, err := directory.VerifyPassword(a.PasswordHash, imp.pw); !ok || rehash || err != nil {
			t.Errorf("rehashed hash verify = %v, %v, %v", ok, rehash, err)
		}
		if _, err := f.d.Authenticate(ctx, "imp@a.example", imp.pw); err != nil {
			t.Errorf("Authenticate after rehash: %v", err)
		}
	}
	f.wantErr("SetPasswordHash(bad hash)", hs.SetPasswordHash(ctx, addr, "secret"), directory.ErrInvalid)
	f.wantErr("SetPasswordHash(unknown account)", hs.SetPasswordHash(ctx, mail.MustParse("no@a.example"), imports[1].hash), directory.ErrNotFound)
}

func testSendAs(f *fixture) {
	f.domain("a.example", 0, 0)
	f.domain("bücher.example", 0, 0)
	bob := f.account("Bob@a.example")
	elodie := f.account("élodie@bücher.example")
	f.alias("sales@a.example", "x@remote.example", "BOB@a.example")
	f.alias("news@a.example", "bob+news@a.example")
	f.alias("info@bücher.example", "élodie@bücher.example")
	for _, from := range []string{"bob@a.example", "BOB@A.EXAMPLE", "Bob+anything@a.example", "bob+@a.example",
		"Sales@a.example", "news@a.example"} {
		f.wantSendAs(bob, from, true)
	}
	for _, from := range []string{"ÉLODIE@xn--bcher-kva.example", "élodie+x@bücher.example", "INFO@BÜCHER.example"} {
		f.wantSendAs(elodie, from, true)
	}
}

func testSendAsRefusals(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("a.example", 0, 0)
	f.domain("b.example", 0, 0)
	bob := f.account("bob@a.example")
	carol := f.account("carol@a.example")
	other := f.account("bob@b.example")
	f.account("bob+x@a.example")
	f.alias("bob+spam@a.example", "carol@a.example")
	f.alias("carols@a.example", "carol@a.example")
	f.alias("@a.example", "bob@a.example")
	for _, from := range []string{
		"carol@a.example",    // another account
		"carols@a.example",   // an alias not delivering to bob
		"random@a.example",   // only the catch-all targets bob: no
		"bob@b.example",      // same local part, other domain
		"bob+x@a.example",    // an account of its own
		"bob+spam@a.example", // an exact alias delivering elsewhere
		"bob@remote.example",
	} {
		f.wantSendAs(bob, from, false)
	}
	// A forged or stale Account value grants nothing: the directory re-reads it by ID.
	forged := bob
	forged.ID = carol.ID
	f.wantSendAs(forged, "bob@a.example", false)
	cross := other
	cross.Address = bob.Address
	f.wantSendAs(cross, "bob@a.example", false)
	f.setAccountEnabled("bob@a.example", false)
	f.wantSendAs(bob, "bob@a.example", false)
	f.setAccountEnabled("bob@a.example", true)
	f.setDomainEnabled("a.example", false)
	f.wantSendAs(bob, "bob@a.example", false)
	f.setDomainEnabled("a.example", true)
	if err := d.DeleteAccount(ctx, bob.Address); err != nil {
		t.Fatal(err)
	}
	f.wantSendAs(bob, "bob@a.example", false)
}

// Repeated logins (which a driver may serve from a cache of verified logins) follow every
// change at once: a wrong password after a right one, a password change, a disabled
// account or domain, a deleted and re-created account.
func testAuthenticateRepeated(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("a.example", 0, 0)
	f.account("u@a.example")
	addr := mail.MustParse("u@a.example")
	login := func(what, pw string, want error) {
		t.Helper()
		for range 2 {
			_, err := d.Authenticate(ctx, "U@a.example", pw)
			f.wantErr(what, err, want)
		}
	}
	login("Authenticate(right)", Password, nil)
	login("Authenticate(wrong after right)", Password+"x", directory.ErrAuthFailed)
	const next = "a new password, long enough"
	if _, err := d.UpdateAccount(ctx, addr, directory.AccountUpdate{Password: ptr(next)}); err != nil {
		t.Fatal(err)
	}
	login("Authenticate(old password after change)", Password, directory.ErrAuthFailed)
	login("Authenticate(new password)", next, nil)
	f.setAccountEnabled("u@a.example", false)
	login("Authenticate(disabled account)", next, directory.ErrDisabled)
	f.setAccountEnabled("u@a.example", true)
	login("Authenticate(enabled again)", next, nil)
	f.setDomainEnabled("a.example", false)
	login("Authenticate(disabled domain)", next, directory.ErrDisabled)
	f.setDomainEnabled("a.example", true)
	if err := d.DeleteAccount(ctx, addr); err != nil {
		t.Fatal(err)
	}
	login("Authenticate(deleted)", next, directory.ErrAuthFailed)
	f.accountWith(directory.NewAccount{Address: addr, Password: Password})
	login("Authenticate(re-created, old password)", next, directory.ErrAuthFailed)
	login("Authenticate(re-created)", Password, nil)
}
