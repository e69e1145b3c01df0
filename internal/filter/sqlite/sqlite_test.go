package sqlite_test

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/bayes"
	"mailgrid/internal/filter/sqlite"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
	"mailgrid/internal/store"
)

func open(t *testing.T, dir string) *sqlite.DB {
	t.Helper()
	d, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

var (
	alice = store.AccountRef{Domain: "one.test", ID: 1}
	bob   = store.AccountRef{Domain: "two.test", ID: 1} // same ID, another tenant
)

func TestSpamLevels(t *testing.T) {
	ctx := context.Background()
	d := open(t, t.TempDir())
	if l, err := d.SpamLevel(ctx, alice); err != nil || l != bayes.DefaultLevel {
		t.Fatalf("default: %v %v", l, err)
	}
	low, high := bayes.LevelLow, bayes.LevelHigh
	must(t, d.SetDomainSpamLevel(ctx, "one.test", &low))
	if l, _ := d.SpamLevel(ctx, alice); l != low {
		t.Fatalf("domain default not applied: %v", l)
	}
	must(t, d.SetSpamLevel(ctx, alice, &high))
	if l, _ := d.SpamLevel(ctx, alice); l != high {
		t.Fatalf("account level not applied: %v", l)
	}
	if l, _ := d.SpamLevel(ctx, bob); l != bayes.DefaultLevel {
		t.Fatalf("another tenant's account sees %v", l)
	}
	must(t, d.SetSpamLevel(ctx, alice, nil))
	if l, _ := d.SpamLevel(ctx, alice); l != low {
		t.Fatalf("cleared account level: %v", l)
	}
	bad := bayes.Level(9)
	if err := d.SetSpamLevel(ctx, alice, &bad); err == nil {
		t.Fatal("unknown level stored")
	}
}

// TestTokenStoreMatchesMemStore applies the same training to the SQLite store and to
// bayes.MemStore (the reference) and compares every count, saturation included.
func TestTokenStoreMatchesMemStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := open(t, dir)
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
	}
	for _, s := range steps {
		must(t, ts.Add(ctx, s.toks, s.spam, s.ham))
		must(t, mem.Add(ctx, s.toks, s.spam, s.ham))
	}
	all := []string{"free", "money", "subject:win", "meeting", "never-seen", "free"}
	got, err := ts.Get(ctx, all)
	must(t, err)
	want, _ := mem.Get(ctx, all)
	for i := range all {
		if got[i] != want[i] {
			t.Errorf("%s: %+v, want %+v", all[i], got[i], want[i])
		}
	}
	gt, _ := ts.Totals(ctx)
	wt, _ := mem.Totals(ctx)
	if gt != wt {
		t.Errorf("totals %+v, want %+v", gt, wt)
	}
	if c, _ := d.Tokens(bob).Totals(ctx); c != (bayes.Counts{}) {
		t.Errorf("another tenant's account sees totals %+v", c)
	}
	// Many tokens (over one SELECT batch), persisted across a reopen.
	many := make([]string, 1000)
	for i := range many {
		many[i] = "tok" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	must(t, ts.Add(ctx, many, 0, 1))
	must(t, d.Close())
	d2 := open(t, dir)
	got, err = d2.Tokens(alice).Get(ctx, many)
	must(t, err)
	for i, c := range got {
		if c.Ham < 1 {
			t.Fatalf("token %d lost after reopen: %+v", i, c)
		}
	}
	// Saturation at the top.
	must(t, d2.Tokens(bob).Add(ctx, []string{"x"}, math.MaxInt32, 0))
	must(t, d2.Tokens(bob).Add(ctx, []string{"x"}, math.MaxInt32, 0))
	must(t, d2.Tokens(bob).Add(ctx, []string{"x"}, 10, 0))
	if c, _ := d2.Tokens(bob).Get(ctx, []string{"x"}); c[0].Spam != math.MaxUint32 {
		t.Fatalf("no saturation at MaxUint32: %+v", c[0])
	}
}

func TestSieveScripts(t *testing.T) {
	ctx := context.Background()
	d := open(t, t.TempDir())
	if _, _, err := d.ActiveScript(ctx, alice); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("no script: %v", err)
	}
	must(t, d.PutScript(ctx, alice, "main", "keep;"))
	must(t, d.PutScript(ctx, alice, "other", "discard;"))
	must(t, d.SetActive(ctx, alice, "main"))
	must(t, d.PutScript(ctx, alice, "main", `require "fileinto"; fileinto "Lists";`))
	name, src, err := d.ActiveScript(ctx, alice)
	if err != nil || name != "main" || !strings.Contains(src, "Lists") {
		t.Fatalf("active %q %q %v", name, src, err)
	}
	if err := d.DeleteScript(ctx, alice, "main"); !errors.Is(err, filter.ErrActive) {
		t.Fatalf("deleting the active script: %v", err)
	}
	must(t, d.SetActive(ctx, alice, "other"))
	list, err := d.Scripts(ctx, alice)
	must(t, err)
	if len(list) != 2 || list[0].Active || !list[1].Active {
		t.Fatalf("list %+v", list)
	}
	if err := d.RenameScript(ctx, alice, "main", "other"); !errors.Is(err, filter.ErrExists) {
		t.Fatalf("rename onto existing: %v", err)
	}
	must(t, d.RenameScript(ctx, alice, "other", "renamed"))
	if name, _, _ := d.ActiveScript(ctx, alice); name != "renamed" {
		t.Fatalf("rename lost the active flag: %q", name)
	}
	if err := d.SetActive(ctx, alice, "missing"); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("activate missing: %v", err)
	}
	must(t, d.SetActive(ctx, alice, ""))
	if _, _, err := d.ActiveScript(ctx, alice); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("deactivated: %v", err)
	}
	if _, err := d.Script(ctx, bob, "main"); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("another tenant reads the script: %v", err)
	}
	if err := d.PutScript(ctx, alice, "bad\nname", "keep;"); !errors.Is(err, filter.ErrInvalid) {
		t.Fatalf("control character in name: %v", err)
	}
}

func TestVacationOncePerPeriod(t *testing.T) {
	ctx := context.Background()
	d := open(t, t.TempDir())
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	var due int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 { // concurrent deliveries from one sender: one reply
		wg.Go(func() {
			ok, err := d.MarkReplied(ctx, alice, "Sender@Remote.Example", "h", now, week)
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
	if ok, _ := d.MarkReplied(ctx, alice, "sender@remote.example", "h", now.Add(week-time.Hour), week); ok {
		t.Fatal("reply due within the period")
	}
	if ok, _ := d.MarkReplied(ctx, alice, "sender@remote.example", "other-handle", now, week); !ok {
		t.Fatal("another handle is another reply (RFC 5230 4.2)")
	}
	if ok, _ := d.MarkReplied(ctx, alice, "sender@remote.example", "h", now.Add(week), week); !ok {
		t.Fatal("reply not due after the period")
	}
}

func TestQuarantine(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := open(t, dir)
	msg := "Subject: infected\r\n\r\n" + strings.Repeat("x", 100000)
	held, err := d.Hold(ctx, []filter.Held{
		{Domain: "one.test", Account: 1, Rcpt: mail.MustParse("a@one.test"), From: mail.MustParse("bad@remote.example"), Reason: "virus Test.Sig", Mailet: "virus"},
		{Domain: "two.test", Account: 7, Rcpt: mail.MustParse("b@two.test"), From: mail.MustParse("bad@remote.example"), Reason: "virus Test.Sig", Mailet: "virus"},
	}, body.Bytes(msg))
	must(t, err)
	if len(held) != 2 || held[0].ID == 0 || held[0].BlobID != held[1].BlobID || held[0].Size != int64(len(msg)) {
		t.Fatalf("held %+v", held)
	}
	if n := countFiles(t, filepath.Join(dir, "held")); n != 1 {
		t.Fatalf("%d held files, want 1 for two copies", n)
	}
	list, err := d.List(ctx, filter.QuarantineQuery{Domain: "one.test"})
	must(t, err)
	if len(list) != 1 || list[0].Reason != "virus Test.Sig" || list[0].Rcpt.String() != "a@one.test" || list[0].From.String() != "bad@remote.example" {
		t.Fatalf("domain list %+v", list)
	}
	if all, _ := d.List(ctx, filter.QuarantineQuery{}); len(all) != 2 {
		t.Fatalf("system list has %d", len(all))
	}
	if _, err := d.Get(ctx, "two.test", held[0].ID); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("cross-tenant Get: %v", err)
	}
	b, err := d.Open(ctx, "one.test", held[0].ID)
	must(t, err)
	got, err := io.ReadAll(body.Reader(b))
	must(t, err)
	must(t, b.Close())
	if string(got) != msg {
		t.Fatal("held body differs")
	}
	must(t, d.Delete(ctx, "one.test", held[0].ID))
	if n := countFiles(t, filepath.Join(dir, "held")); n != 1 {
		t.Fatal("body removed while another copy holds it")
	}
	if n, err := d.Expire(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	if n := countFiles(t, filepath.Join(dir, "held")); n != 0 {
		t.Fatalf("%d held files after the last copy went", n)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	return len(ents)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
