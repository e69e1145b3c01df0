package sqlite

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"mailgrid/internal/bus"
	"mailgrid/internal/store"
)

// announceWait bounds the wait for a poll to find an announcement.
const announceWait = 20 * time.Second

// TestAnnounceAcrossProcesses: two stores open one shard directory, as `mailgrid serve`
// and a `mailgrid user del` beside it do. What the one without a poll (the CLI)
// announces reaches the serving one's bus, once; what the serving one announces reaches
// its own bus once (not again from the file). Lines written before the serving store
// opened are not replayed, a half-written line waits for its end, and a truncated file
// is read from its start.
func TestAnnounceAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	cli := openAt(t, dir, bus.New(), 0)
	a := store.AccountRef{Domain: "example.com", ID: 1}
	old := store.Change{Kind: store.AccountDeleted, Account: store.AccountRef{Domain: "example.com", ID: 99}}
	if err := cli.Announce(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	b := bus.New()
	srv, err := Open(t.Context(), Options{Dir: dir, Publisher: b, Logger: testLogger(t), AnnouncePoll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	sub := b.Subscribe(a, 16)
	defer sub.Close()
	oldSub := b.Subscribe(old.Account, 16)
	defer oldSub.Close()

	expectKind := func(want store.ChangeKind) {
		t.Helper()
		select {
		case c := <-sub.C:
			if c.Kind != want || c.Account != a {
				t.Fatalf("got %+v, want %v of %v", c, want, a)
			}
		case <-time.After(announceWait):
			t.Fatalf("no %v arrived", want)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cli.Announce(t.Context(), store.Change{Kind: store.AccountDisabled, Account: a}))
	expectKind(store.AccountDisabled)
	must(srv.Announce(t.Context(), store.Change{Kind: store.AccountDeleted, Account: a}))
	expectKind(store.AccountDeleted)

	path := filepath.Join(dir, announceFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	must(err)
	_, err = f.WriteString(`{"o":"elsewhere","k":10,"d":"example.com"`) // half a line
	must(err)
	time.Sleep(50 * time.Millisecond) // several polls see the half line (not a timing assertion)
	_, err = f.WriteString(`,"a":1}` + "\n")
	must(err)
	must(f.Close())
	expectKind(store.AccountDisabled)

	must(os.Truncate(path, 0))
	must(cli.Announce(t.Context(), store.Change{Kind: store.AccountMoved, Account: a}))
	expectKind(store.AccountMoved)

	select {
	case c := <-sub.C:
		t.Errorf("unexpected change %+v (published twice?)", c)
	case c := <-oldSub.C:
		t.Errorf("an announcement from before the open was replayed: %+v", c)
	case <-time.After(50 * time.Millisecond):
	}
}

// BenchmarkAnnouncePollIdle is one look of a serving process at an announcement file
// with nothing new: what the 250 ms poll of app costs when no operator acts.
func BenchmarkAnnouncePollIdle(b *testing.B) {
	dir := b.TempDir()
	a := &announcer{path: filepath.Join(dir, announceFile), origin: newOrigin()}
	if err := a.append([]byte(`{"o":"x","k":10,"d":"example.com","a":1}` + "\n")); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(a.path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, changes, err := a.read(fi.Size()); err != nil || len(changes) != 0 {
			b.Fatal(changes, err)
		}
	}
}
