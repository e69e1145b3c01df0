package statetest

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/bayes"
)

// testSpamLevels: the account's level, else the domain default, else bayes.DefaultLevel;
// nil clears; an unknown level is refused.
func testSpamLevels(t *testing.T, open Opener) {
	d := openState(t, open)
	c := ctx(t)
	if l, err := d.SpamLevel(c, alice); err != nil || l != bayes.DefaultLevel {
		t.Fatalf("default: %v %v", l, err)
	}
	low, high := bayes.LevelLow, bayes.LevelHigh
	must(t, d.SetDomainSpamLevel(c, "one.test", &low))
	if l, _ := d.SpamLevel(c, alice); l != low {
		t.Fatalf("domain default not applied: %v", l)
	}
	must(t, d.SetSpamLevel(c, alice, &high))
	if l, _ := d.SpamLevel(c, alice); l != high {
		t.Fatalf("account level not applied: %v", l)
	}
	if l, _ := d.SpamLevel(c, bob); l != bayes.DefaultLevel {
		t.Fatalf("another tenant's account sees %v", l)
	}
	must(t, d.SetSpamLevel(c, alice, nil))
	if l, _ := d.SpamLevel(c, alice); l != low {
		t.Fatalf("cleared account level: %v", l)
	}
	must(t, d.SetDomainSpamLevel(c, "one.test", nil))
	if l, _ := d.SpamLevel(c, alice); l != bayes.DefaultLevel {
		t.Fatalf("cleared domain level: %v", l)
	}
	bad := bayes.Level(9)
	if err := d.SetSpamLevel(c, alice, &bad); err == nil {
		t.Fatal("unknown level stored")
	}
}

// testTokens applies the same training to the driver's store and to bayes.MemStore (the
// reference) and compares every count, saturation included; counts survive a reopen.
func testTokens(t *testing.T, open Opener) {
	c := ctx(t)
	d := openState(t, open)
	ts, mem := d.Tokens(alice), bayes.NewMemStore()
	steps := []struct {
		toks      []string
		spam, ham int
	}{
		{[]string{"free", "money", "subject:win"}, 1, 0},
		{[]string{"free", "meeting"}, 0, 1},
		{[]string{"free", "money"}, 1, 0},
		{[]string{"free", "money", "subject:win"}, -1, 0}, // untrain
		{[]string{"never-seen"}, -1, 0},                   // saturates at zero
		{[]string{"meeting", "free"}, 0, -1},
		{[]string{"dup", "dup"}, 1, 0}, // a token twice in one message counts twice, as MemStore
	}
	for _, s := range steps {
		must(t, ts.Add(c, s.toks, s.spam, s.ham))
		must(t, mem.Add(c, s.toks, s.spam, s.ham))
	}
	all := []string{"free", "money", "subject:win", "meeting", "never-seen", "free", "dup"}
	got, err := ts.Get(c, all)
	must(t, err)
	want, _ := mem.Get(c, all)
	for i := range all {
		if got[i] != want[i] {
			t.Errorf("%s: %+v, want %+v", all[i], got[i], want[i])
		}
	}
	gt, err := ts.Totals(c)
	must(t, err)
	wt, _ := mem.Totals(c)
	if gt != wt {
		t.Errorf("totals %+v, want %+v", gt, wt)
	}
	if c, _ := d.Tokens(bob).Totals(c); c != (bayes.Counts{}) {
		t.Errorf("another tenant's account sees totals %+v", c)
	}
	if got, _ := d.Tokens(bob).Get(c, []string{"free"}); got[0] != (bayes.Counts{}) {
		t.Errorf("another tenant's account sees token counts %+v", got[0])
	}
	// Many tokens (over any one-statement batch), persisted across a reopen.
	many := make([]string, 1000)
	for i := range many {
		many[i] = "tok" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	must(t, ts.Add(c, many, 0, 1))
	must(t, d.Close())
	d2 := openState(t, open)
	got, err = d2.Tokens(alice).Get(c, many)
	must(t, err)
	for i, n := range got {
		if n.Ham < 1 {
			t.Fatalf("token %d lost after reopen: %+v", i, n)
		}
	}
	// Saturation at the top.
	must(t, d2.Tokens(bob).Add(c, []string{"x"}, math.MaxInt32, 0))
	must(t, d2.Tokens(bob).Add(c, []string{"x"}, math.MaxInt32, 0))
	must(t, d2.Tokens(bob).Add(c, []string{"x"}, 10, 0))
	if n, _ := d2.Tokens(bob).Get(c, []string{"x"}); n[0].Spam != math.MaxUint32 {
		t.Fatalf("no saturation at MaxUint32: %+v", n[0])
	}
	if tot, _ := d2.Tokens(bob).Totals(c); tot.Spam != math.MaxUint32 {
		t.Fatalf("totals not saturated at MaxUint32: %+v", tot)
	}
}

// testTrainLog: what a body was trained as, per account; a change of mind replaces it.
func testTrainLog(t *testing.T, open Opener) {
	d := openState(t, open)
	c := ctx(t)
	if _, ok, err := d.TrainedAs(c, alice, "blob1"); err != nil || ok {
		t.Fatalf("untrained: ok %v, %v", ok, err)
	}
	must(t, d.SetTrained(c, alice, "blob1", bayes.Spam))
	if cl, ok, err := d.TrainedAs(c, alice, "blob1"); err != nil || !ok || cl != bayes.Spam {
		t.Fatalf("trained: %v %v %v", cl, ok, err)
	}
	must(t, d.SetTrained(c, alice, "blob1", bayes.Ham))
	if cl, ok, _ := d.TrainedAs(c, alice, "blob1"); !ok || cl != bayes.Ham {
		t.Fatalf("retrained: %v %v", cl, ok)
	}
	if _, ok, _ := d.TrainedAs(c, bob, "blob1"); ok {
		t.Fatal("another tenant's account sees the training")
	}
}

// testSieveScripts: the ManageSieve operations (RFC 5804 2.6-2.11).
func testSieveScripts(t *testing.T, open Opener) {
	d := openState(t, open)
	c := ctx(t)
	if _, _, err := d.ActiveScript(c, alice); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("no script: %v", err)
	}
	if list, err := d.Scripts(c, alice); err != nil || len(list) != 0 {
		t.Fatalf("empty list: %+v %v", list, err)
	}
	must(t, d.PutScript(c, alice, "main", "keep;"))
	must(t, d.PutScript(c, alice, "other", "discard;"))
	must(t, d.SetActive(c, alice, "main"))
	must(t, d.PutScript(c, alice, "main", `require "fileinto"; fileinto "Lists";`))
	name, src, err := d.ActiveScript(c, alice)
	if err != nil || name != "main" || !strings.Contains(src, "Lists") {
		t.Fatalf("active %q %q %v", name, src, err)
	}
	if src, err := d.Script(c, alice, "other"); err != nil || src != "discard;" {
		t.Fatalf("GETSCRIPT: %q %v", src, err)
	}
	if _, err := d.Script(c, alice, "missing"); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("GETSCRIPT missing: %v", err)
	}
	if err := d.DeleteScript(c, alice, "main"); !errors.Is(err, filter.ErrActive) {
		t.Fatalf("deleting the active script: %v", err)
	}
	must(t, d.SetActive(c, alice, "other"))
	list, err := d.Scripts(c, alice)
	must(t, err)
	if len(list) != 2 || list[0].Name != "main" || list[0].Active || !list[1].Active {
		t.Fatalf("list %+v", list)
	}
	if err := d.RenameScript(c, alice, "main", "other"); !errors.Is(err, filter.ErrExists) {
		t.Fatalf("rename onto existing: %v", err)
	}
	if err := d.RenameScript(c, alice, "missing", "new"); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("rename missing: %v", err)
	}
	must(t, d.RenameScript(c, alice, "other", "renamed"))
	if name, _, _ := d.ActiveScript(c, alice); name != "renamed" {
		t.Fatalf("rename lost the active flag: %q", name)
	}
	if err := d.SetActive(c, alice, "missing"); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("activate missing: %v", err)
	}
	must(t, d.SetActive(c, alice, ""))
	if _, _, err := d.ActiveScript(c, alice); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("deactivated: %v", err)
	}
	must(t, d.DeleteScript(c, alice, "main"))
	if err := d.DeleteScript(c, alice, "main"); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := d.Script(c, bob, "renamed"); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("another tenant reads the script: %v", err)
	}
	if err := d.PutScript(c, alice, "bad\nname", "keep;"); !errors.Is(err, filter.ErrInvalid) {
		t.Fatalf("control character in name: %v", err)
	}
	if err := d.PutScript(c, alice, "", "keep;"); !errors.Is(err, filter.ErrInvalid) {
		t.Fatalf("empty name: %v", err)
	}
	if err := d.RenameScript(c, alice, "renamed", "bad\x00"); !errors.Is(err, filter.ErrInvalid) {
		t.Fatalf("rename to a control character: %v", err)
	}
}

// testScriptsShared: a script stored and activated through one handle (one node's
// ManageSieve) is the active script another handle on the same storage (another node's
// delivery) reads, and a change is seen at once.
func testScriptsShared(t *testing.T, open Opener) {
	a, b := openState(t, open), openState(t, open)
	c := ctx(t)
	must(t, a.PutScript(c, alice, "rules", "keep;"))
	must(t, a.SetActive(c, alice, "rules"))
	if name, src, err := b.ActiveScript(c, alice); err != nil || name != "rules" || src != "keep;" {
		t.Fatalf("other handle: %q %q %v", name, src, err)
	}
	must(t, b.PutScript(c, alice, "rules", "discard;"))
	if _, src, _ := a.ActiveScript(c, alice); src != "discard;" {
		t.Fatalf("first handle sees %q after the other replaced it", src)
	}
}

// testVacation: one reply per sender and handle within the period (RFC 5230 4.2), the
// check and the record atomic under concurrent deliveries, also from two handles.
func testVacation(t *testing.T, open Opener) {
	hs := []State{openState(t, open), openState(t, open)}
	c := ctx(t)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	var due int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 8 { // concurrent deliveries from one sender on two nodes: one reply
		wg.Go(func() {
			ok, err := hs[i%2].MarkReplied(c, alice, "Sender@Remote.Example", "h", now, week)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				due++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if due != 1 {
		t.Fatalf("%d replies due, want 1", due)
	}
	d := hs[0]
	if ok, _ := d.MarkReplied(c, alice, "sender@remote.example", "h", now.Add(week-time.Hour), week); ok {
		t.Fatal("reply due within the period")
	}
	if ok, _ := d.MarkReplied(c, alice, "sender@remote.example", "other-handle", now, week); !ok {
		t.Fatal("another handle is another reply (RFC 5230 4.2)")
	}
	if ok, _ := d.MarkReplied(c, bob, "sender@remote.example", "h", now, week); !ok {
		t.Fatal("another tenant's account shares the memory")
	}
	if ok, _ := d.MarkReplied(c, alice, "sender@remote.example", "h", now.Add(week), week); !ok {
		t.Fatal("reply not due after the period")
	}
}
