package directorytest

import (
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

func testResolveExact(f *fixture) {
	f.domain("a.example", 0, 0)
	bob := f.account("Bob@a.example")
	f.account("carol@a.example")
	f.alias("team@a.example", "bob@a.example", "CAROL@a.example")
	f.wantResolve("bob@a.example", "acct:bob@a.example")
	f.wantResolve("TEAM@A.EXAMPLE", "acct:bob@a.example", "acct:carol@a.example")
	f.wantResolveErr("nobody@a.example", directory.ErrNotFound)
	f.wantResolveErr("bob@other.example", directory.ErrNotFound)
	ts, err := f.d.Resolve(f.ctx, mail.MustParse("bob@a.example"))
	if err != nil || len(ts) != 1 || ts[0].Account.ID != bob.ID || ts[0].Account.Shard != directory.LocalShard ||
		ts[0].Account.Address.Local != "Bob" {
		f.t.Errorf("Resolve(bob) = %+v, %v; want the full account", ts, err)
	}
}

// "local+detail" resolves through its base unless the exact address exists.
func testResolveSubAddress(f *fixture) {
	f.domain("a.example", 0, 0)
	f.account("bob@a.example")
	f.account("bob+x@a.example") // an account whose name contains '+' wins over bob
	f.account("carol@a.example")
	f.alias("bob+spam@a.example", "carol@a.example") // an exact alias wins over bob
	f.alias("sales@a.example", "bob@a.example", "carol+sales@a.example", "far@remote.example")
	f.wantResolve("bob+news@a.example", "acct:bob@a.example+news")
	f.wantResolve("BOB+News@a.example", "acct:bob@a.example+News")
	f.wantResolve("bob+x@a.example", "acct:bob+x@a.example")
	f.wantResolve("bob+spam@a.example", "acct:carol@a.example")
	f.wantResolve("bob+@a.example", "acct:bob@a.example")
	// The base alias: the detail goes on to targets without their own.
	f.wantResolve("sales+eu@a.example", "acct:bob@a.example+eu", "acct:carol@a.example+sales", "remote:far@remote.example")
	f.wantResolve("sales@a.example", "acct:bob@a.example", "acct:carol@a.example+sales", "remote:far@remote.example")
	f.wantResolveErr("nobody+x@a.example", directory.ErrNotFound)
}

// The catch-all takes only what nothing else matches.
func testResolveCatchAll(f *fixture) {
	f.domain("a.example", 0, 0)
	f.domain("b.example", 0, 0)
	f.account("bob@a.example")
	f.account("carol@a.example")
	f.account("postmaster@a.example")
	f.alias("team@a.example", "carol@a.example")
	f.alias("@A.example", "postmaster@a.example")
	f.wantResolve("bob@a.example", "acct:bob@a.example")
	f.wantResolve("bob+tag@a.example", "acct:bob@a.example+tag")
	f.wantResolve("team@a.example", "acct:carol@a.example")
	f.wantResolve("team+x@a.example", "acct:carol@a.example+x")
	f.wantResolve("random@a.example", "acct:postmaster@a.example")
	f.wantResolve("random+x@a.example", "acct:postmaster@a.example")
	f.wantResolveErr("random@b.example", directory.ErrNotFound) // catch-alls are per domain
	// A disabled account is not handed to the catch-all.
	f.setAccountEnabled("bob@a.example", false)
	f.wantResolveErr("bob@a.example", directory.ErrDisabled)
	f.wantResolveErr("bob+tag@a.example", directory.ErrDisabled)
}

func testResolveAliasRemote(f *fixture) {
	f.domain("a.example", 0, 0)
	f.alias("fwd@a.example", "Someone@Bücher.Example", "élodie@remote.example")
	f.wantResolve("fwd@a.example", "remote:someone@xn--bcher-kva.example", "remote:élodie@remote.example")
	ts, err := f.d.Resolve(f.ctx, mail.MustParse("fwd@a.example"))
	if err != nil || len(ts) != 2 {
		f.t.Fatalf("Resolve(fwd) = %+v, %v", ts, err)
	}
	for _, tg := range ts {
		if tg.Account != nil || tg.Remote.Domain == "" {
			f.t.Errorf("remote target = %+v", tg)
		}
		if tg.Remote.Key() == "someone@xn--bcher-kva.example" && tg.Remote.Local != "Someone" {
			f.t.Errorf("remote local part = %q, want it as written (Someone)", tg.Remote.Local)
		}
	}
}

// Alias expansion goes one level: an alias's alias targets give their accounts and remote
// targets, and stop there, so loops terminate.
func testResolveAliasOneLevel(f *fixture) {
	f.domain("a.example", 0, 0)
	f.account("bob@a.example")
	f.account("carol@a.example")
	f.alias("inner@a.example", "carol@a.example", "x@remote.example", "deep@a.example")
	f.alias("deep@a.example", "bob@a.example")
	f.alias("outer@a.example", "inner@a.example", "bob@a.example", "ghost@a.example")
	f.wantResolve("outer@a.example", "acct:bob@a.example", "acct:carol@a.example", "remote:x@remote.example")
	f.wantResolve("inner@a.example", "acct:bob@a.example", "acct:carol@a.example", "remote:x@remote.example")
	// Loops.
	f.alias("ping@a.example", "pong@a.example")
	f.alias("pong@a.example", "ping@a.example", "carol@a.example")
	f.wantResolve("ping@a.example", "acct:carol@a.example")
	f.wantResolve("pong@a.example", "acct:carol@a.example")
	f.alias("self1@a.example", "self2@a.example")
	f.alias("self2@a.example", "self1@a.example")
	f.wantResolveErr("self1@a.example", directory.ErrNotFound)
	// A target that is a local address without account or alias is dropped.
	f.alias("void@a.example", "ghost@a.example")
	f.wantResolveErr("void@a.example", directory.ErrNotFound)
}

func testResolveDisabled(f *fixture) {
	f.domain("a.example", 0, 0)
	f.account("on@a.example")
	f.account("off@a.example")
	f.alias("mixed@a.example", "on@a.example", "off@a.example")
	f.alias("dead@a.example", "off@a.example")
	f.alias("@a.example", "off@a.example")
	f.setAccountEnabled("off@a.example", false)
	f.wantResolveErr("off@a.example", directory.ErrDisabled)
	f.wantResolveErr("OFF+x@a.example", directory.ErrDisabled)
	f.wantResolve("mixed@a.example", "acct:on@a.example")
	f.wantResolveErr("dead@a.example", directory.ErrDisabled)
	f.wantResolveErr("anything@a.example", directory.ErrDisabled)
	f.setAccountEnabled("off@a.example", true)
	f.wantResolve("dead@a.example", "acct:off@a.example")

	f.setDomainEnabled("a.example", false)
	for _, rcpt := range []string{"on@a.example", "mixed@a.example", "anything@a.example"} {
		f.wantResolveErr(rcpt, directory.ErrDisabled)
	}
	if ok, err := f.d.IsLocalDomain(f.ctx, "a.example"); ok || err != nil {
		f.t.Errorf("IsLocalDomain(disabled) = %v, %v", ok, err)
	}
	f.setDomainEnabled("a.example", true)
	f.wantResolve("on@a.example", "acct:on@a.example")
}

// Aliases may point into other local domains; a disabled target domain drops its targets.
func testResolveCrossDomainAlias(f *fixture) {
	f.domain("a.example", 0, 0)
	f.domain("b.example", 0, 0)
	f.account("bob@b.example")
	f.account("amy@a.example")
	f.alias("x@a.example", "bob@b.example", "amy@a.example")
	f.alias("y@a.example", "bob+tag@b.example")
	f.wantResolve("x@a.example", "acct:bob@b.example", "acct:amy@a.example")
	f.wantResolve("y@a.example", "acct:bob@b.example+tag")
	f.setDomainEnabled("b.example", false)
	f.wantResolve("x@a.example", "acct:amy@a.example")
	f.wantResolveErr("y@a.example", directory.ErrDisabled)
}
