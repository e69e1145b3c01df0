package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/cluster"
	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// TestMoveUnderLoad moves an account of a few thousand 4 KiB messages from s1 to s2 while
// deliveries go through the real pipeline and another session changes flags: every
// acknowledged message is on the target exactly once, mailboxes keep their UIDVALIDITY,
// UIDs and flags, every flag change that succeeded is there, usage matches, the source
// is empty, the directory points at s2 and the source's sessions heard AccountMoved.
func TestMoveUnderLoad(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, ref := e.account("alice@example.test", "s1")
	n := 3000
	if short() {
		n = 300
	}
	src := e.st["s1"]
	seed(t, src, ref, "INBOX", n, 4096)
	if _, err := src.CreateMailbox(ctx, ref, "Work/Projects", ""); err != nil {
		t.Fatal(err)
	}
	seed(t, src, ref, "Work/Projects", 50, 2048)
	if err := src.SetSubscribed(ctx, ref, "Junk", false); err != nil {
		t.Fatal(err)
	}
	inbox, err := src.Mailbox(ctx, ref, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.StoreFlags(ctx, ref, inbox.ID, store.FlagUpdate{UIDs: []store.UID{1, 2, 3}, Op: store.FlagsAdd,
		Flags: []string{store.FlagSeen, "$Important"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Expunge(ctx, ref, inbox.ID, []store.UID{4, 5}); err != nil {
		t.Fatal(err)
	}
	before := take(t, src, ref)
	sub := e.bus["s1"].Subscribe(ref, 1<<16)
	defer sub.Close()

	// Load: deliveries through the pipeline and flag changes on the source, until the move
	// is over and a little after.
	lctx, stopLoad := context.WithCancel(ctx)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		acked   = map[string]bool{}
		temps   atomic.Int64
		flagged = map[store.UID]bool{} // keyword $moved<uid> set and acknowledged
		loadErr error
	)
	fail := func(err error) {
		mu.Lock()
		if loadErr == nil {
			loadErr = err
		}
		mu.Unlock()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lctx.Err() == nil {
				id := newID()
				tf, err := e.deliver(context.WithoutCancel(lctx), "alice@example.test", id)
				temps.Add(int64(tf))
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() { // flag changes on whatever shard the directory names, as an IMAP session would
		defer wg.Done()
		for uid := store.UID(10); lctx.Err() == nil && uid < store.UID(n); uid += 7 {
			cur, err := e.dir.AccountByID(ctx, ref.Domain, ref.ID)
			if err != nil {
				fail(err)
				return
			}
			st := e.st[cur.Shard]
			mb, err := st.Mailbox(ctx, ref, "INBOX")
			if err != nil {
				continue // moved under our feet: the next iteration reads the new shard
			}
			kw := fmt.Sprintf("$moved%d", uid)
			if _, err := st.StoreFlags(ctx, ref, mb.ID, store.FlagUpdate{UIDs: []store.UID{uid}, Op: store.FlagsAdd,
				Flags: []string{kw}}); err == nil {
				mu.Lock()
				flagged[uid] = true
				mu.Unlock()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()

	time.Sleep(100 * time.Millisecond) // let the load start
	start := time.Now()
	m, err := e.eng.Move(ctx, a.Address, "s2")
	took := time.Since(start)
	if err != nil {
		stopLoad()
		wg.Wait()
		t.Fatalf("move: %v (journal %+v)", err, m)
	}
	time.Sleep(200 * time.Millisecond) // deliveries keep going to the new shard
	stopLoad()
	wg.Wait()
	if loadErr != nil {
		t.Fatalf("load: %v", loadErr)
	}
	t.Logf("moved %d messages (%d bytes) in %v: %.0f messages/s; %d rounds; fence %d ms; %d acknowledged deliveries during the test, %d temporary failures retried",
		m.Messages, m.Bytes, took, float64(m.Messages)/took.Seconds(), m.Rounds, m.FenceMS, len(acked), temps.Load())

	if m.State != directory.MigrationDone || m.Phase != directory.PhaseDone {
		t.Errorf("journal: %+v", m)
	}
	cur, err := e.dir.AccountByID(ctx, ref.Domain, ref.ID)
	if err != nil || cur.Shard != "s2" {
		t.Fatalf("placement after move: %q, %v", cur.Shard, err)
	}
	if _, err := src.Usage(ctx, ref); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("source still holds the account: %v", err)
	}
	dst := e.st["s2"]
	after := take(t, dst, ref)
	for name, b := range before {
		a, ok := after[name]
		if !ok {
			t.Errorf("mailbox %q missing after the move", name)
			continue
		}
		if a.uidValidity != b.uidValidity {
			t.Errorf("%q: UIDVALIDITY %d -> %d", name, b.uidValidity, a.uidValidity)
		}
		for uid, bm := range b.msgs {
			am, ok := a.msgs[uid]
			switch {
			case !ok:
				t.Errorf("%q UID %d lost", name, uid)
			case am.blobID != bm.blobID:
				t.Errorf("%q UID %d: body changed", name, uid)
			case name == "INBOX" && uid <= 3 && am.flags != bm.flags && !flagged[uid]:
				t.Errorf("%q UID %d: flags %q -> %q", name, uid, bm.flags, am.flags)
			}
		}
	}
	if after["Junk"].uidValidity == 0 {
		t.Error("Junk missing")
	}
	boxes, err := dst.Mailboxes(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	var usage store.Usage
	for _, b := range boxes {
		if b.Name == "Junk" && b.Subscribed {
			t.Error("Junk subscribed again after the move")
		}
		usage.Messages += int64(b.Messages)
		usage.Bytes += b.Size
	}
	if u, err := dst.Usage(ctx, ref); err != nil || u != usage {
		t.Errorf("usage %+v, %v; mailboxes hold %+v", u, err, usage)
	}
	for uid := range flagged {
		kw := fmt.Sprintf("$moved%d", uid)
		if f := after["INBOX"].msgs[uid].flags; !containsWord(f, kw) {
			t.Errorf("INBOX UID %d: acknowledged keyword %s lost (flags %q)", uid, kw, f)
		}
	}
	ids := messageIDs(t, dst, ref)
	for id := range acked {
		if ids[id] != 1 {
			t.Errorf("acknowledged message %s is on the target %d times", id, ids[id])
		}
	}
	if want := n - 2 + 50 + len(acked); len(ids) != want {
		t.Errorf("target holds %d messages, want %d", len(ids), want)
	}
	moved := false
	for len(sub.C) > 0 {
		if ch := <-sub.C; ch.Kind == store.AccountMoved {
			moved = true
		}
	}
	if !moved && !sub.Overflowed() {
		t.Error("no AccountMoved published on the source")
	}
	// A new mailbox on the target never reuses a UIDVALIDITY of the account.
	nb, err := dst.CreateMailbox(ctx, ref, "New", "")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range after {
		if b.uidValidity >= nb.UIDValidity {
			t.Errorf("new mailbox UIDVALIDITY %d not above %q's %d", nb.UIDValidity, name, b.uidValidity)
		}
	}
}

func containsWord(s, w string) bool {
	for len(s) > 0 {
		var f string
		f, s, _ = cut(s)
		if f == w {
			return true
		}
	}
	return false
}

func cut(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// TestMoveResume interrupts a move in its copy phase (the context ends, as when the
// process is killed: the journal stays unfinished), checks that a second mover is
// refused while one holds the account, then runs the move again: it resumes from the
// target's watermarks and finishes with everything in place.
func TestMoveResume(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, ref := e.account("bob@example.test", "s1")
	n := 1000
	if short() {
		n = 200
	}
	seed(t, e.st["s1"], ref, "INBOX", n, 4096)
	before := take(t, e.st["s1"], ref)

	e.eng.Options.BatchMessages = 50
	cctx, cancel := context.WithCancel(ctx)
	go func() { // cancel once the target holds part of the mailbox
		defer cancel()
		for cctx.Err() == nil {
			if u, err := e.st["s2"].Usage(ctx, ref); err == nil && u.Messages >= int64(n/4) {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	m, err := e.eng.Move(cctx, a.Address, "s2")
	cancel()
	if err == nil {
		t.Fatalf("move was not interrupted: %+v", m)
	}
	if m.State != directory.MigrationFailed || m.Phase != directory.PhaseCopy {
		t.Fatalf("journal after the interruption: %+v", m)
	}
	if u, err := e.st["s2"].Usage(ctx, ref); err != nil || u.Messages == 0 || u.Messages >= int64(n) {
		t.Fatalf("target after the interruption: %+v, %v (want a part)", u, err)
	}
	if cur, _ := e.dir.AccountByID(ctx, ref.Domain, ref.ID); cur.Shard != "s1" {
		t.Fatalf("placement moved before the copy finished: %q", cur.Shard)
	}

	release, err := e.dir.LockMigration(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.Move(ctx, a.Address, "s2"); !errors.Is(err, directory.ErrBusy) {
		t.Errorf("concurrent move: %v, want ErrBusy", err)
	}
	release()
	if _, err := e.eng.Move(ctx, a.Address, "s1"); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("move to the shard it is on: %v, want ErrInvalid", err)
	}

	m, err = e.eng.Move(ctx, a.Address, "s2")
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if m.State != directory.MigrationDone || m.Messages != int64(n) {
		t.Errorf("journal after resume: %+v (want %d messages copied in all)", m, n)
	}
	after := take(t, e.st["s2"], ref)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("target differs from the source before the move")
	}
	list, err := e.dir.Migrations(ctx, false)
	if err != nil || len(list) != 1 || list[0].State != directory.MigrationDone {
		t.Errorf("journal: %+v, %v", list, err)
	}
}

// TestFencedDeliveryRetries holds the source's fence while a delivery arrives: the
// delivery waits, the move switches placement and drops the source, and the delivery
// answers a temporary failure (never 5xx, nothing stored); its retry lands on the target.
func TestFencedDeliveryRetries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, ref := e.account("carol@example.test", "s1")
	seed(t, e.st["s1"], ref, "INBOX", 5, 1024)
	m, _, err := e.dir.StartMigration(ctx, directory.Migration{AccountID: a.ID, Domain: ref.Domain,
		Address: a.Address.String(), Kind: directory.MigrationMove, Source: "s1", Target: "s2", Owner: "test"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.st["s1"].Fence(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		envl := deliveryEnvelope("carol@example.test")
		res, err := e.pipe.Deliver(ctx, envl, bytesReader(message("fenced@remote.test", 2048)))
		if err == nil && res[0].Err != nil {
			err = res[0].Err
		}
		done <- err
	}()
	waitLockWaiter(t, e.dsn["s1"])
	if err := e.dir.SwitchShard(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := f.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !isTemporary(err) {
			t.Fatalf("fenced delivery: %v, want a temporary failure", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("fenced delivery never returned")
	}
	if _, err := e.st["s1"].Usage(ctx, ref); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the fenced delivery recreated the account on the old shard: %v", err)
	}
	if _, err := e.deliver(ctx, "carol@example.test", "fenced@remote.test"); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if ids := messageIDs(t, e.st["s2"], ref); ids["fenced@remote.test"] != 1 {
		t.Errorf("retried message on the target: %v", ids)
	}
}

// waitLockWaiter waits until a session of the database waits for a row lock.
func waitLockWaiter(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	for range 3000 {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no session ever waited on the fence")
}

// TestCopyKeepsSource copies an account to s2 twice (the second run brings changes made
// meanwhile): placement and the source stay, the target matches (Verify).
func TestCopyKeepsSource(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, ref := e.account("dave@example.test", "s1")
	seed(t, e.st["s1"], ref, "INBOX", 100, 4096)
	if _, err := e.eng.Copy(ctx, a.Address, "s2"); err != nil {
		t.Fatal(err)
	}
	src := e.st["s1"]
	inbox, err := src.Mailbox(ctx, ref, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Expunge(ctx, ref, inbox.ID, []store.UID{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := src.RenameMailbox(ctx, ref, "Archive", "Old"); err != nil {
		t.Fatal(err)
	}
	if err := src.DeleteMailbox(ctx, ref, "Drafts"); err != nil {
		t.Fatal(err)
	}
	seed(t, src, ref, "INBOX", 10, 1024)
	m, err := e.eng.Copy(ctx, a.Address, "s2")
	if err != nil {
		t.Fatal(err)
	}
	if m.Messages != 10 {
		t.Errorf("second copy copied %d messages, want the 10 new ones", m.Messages)
	}
	if _, err := cluster.Verify(ctx, src, e.st["s2"], ref); err != nil {
		t.Error(err)
	}
	if cur, _ := e.dir.AccountByID(ctx, ref.Domain, ref.ID); cur.Shard != "s1" {
		t.Errorf("copy moved placement to %q", cur.Shard)
	}
	d, err := e.st["s2"].Vanished(ctx, ref, mustBox(t, e.st["s2"], ref, "INBOX"), 0)
	if err != nil || len(d) != 3 {
		t.Errorf("target tombstones %v, %v; want UIDs 1-3", d, err)
	}
}

func mustBox(t *testing.T, st store.Store, ref store.AccountRef, name string) store.MailboxID {
	t.Helper()
	b, err := st.Mailbox(context.Background(), ref, name)
	if err != nil {
		t.Fatal(err)
	}
	return b.ID
}

// TestDrain moves every account off s1: one had an unfinished move to s2 (resumed there),
// the others go where the placer says; accounts on s2 stay.
func TestDrain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var refs []store.AccountRef
	for _, u := range []string{"d1", "d2", "d3"} {
		_, ref := e.account(u+"@example.test", "s1")
		seed(t, e.st["s1"], ref, "INBOX", 20, 1024)
		refs = append(refs, ref)
	}
	stay, stayRef := e.account("stay@example.test", "s2")
	seed(t, e.st["s2"], stayRef, "INBOX", 5, 1024)
	// d1: a move that stopped after its first round.
	d1, err := e.dir.AccountByID(ctx, refs[0].Domain, refs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	e.eng.Progress = func(m directory.Migration) {
		if m.Rounds == 1 {
			cancel()
		}
	}
	if _, err := e.eng.Move(cctx, d1.Address, "s2"); err == nil {
		t.Fatal("the first move was not interrupted")
	}
	cancel()
	e.eng.Progress = nil
	placed := 0
	n, err := e.eng.Drain(ctx, "s1", func(ctx context.Context, a directory.Account) (string, error) {
		placed++
		return "s2", nil
	}, nil)
	if err != nil || n != 3 || placed != 2 {
		t.Fatalf("drain: %d moved, %d placed, %v", n, placed, err)
	}
	for _, ref := range refs {
		a, err := e.dir.AccountByID(ctx, ref.Domain, ref.ID)
		if err != nil || a.Shard != "s2" {
			t.Errorf("%v after drain: %q, %v", ref, a.Shard, err)
		}
		if u, err := e.st["s2"].Usage(ctx, ref); err != nil || u.Messages != 20 {
			t.Errorf("%v on s2: %+v, %v", ref, u, err)
		}
	}
	if a, _ := e.dir.AccountByID(ctx, stayRef.Domain, stay.ID); a.Shard != "s2" {
		t.Errorf("account on s2 moved to %q", a.Shard)
	}
	if ms, err := e.dir.Migrations(ctx, true); err != nil || len(ms) != 0 {
		t.Errorf("unfinished after drain: %+v, %v", ms, err)
	}
}
