package storetest

// The conformance suite of the migration interfaces (store.Importer, store.Fencer,
// store.BodyReader), for drivers that offer them: a copy made through them is the
// source's account with its identity (UIDVALIDITY, UIDs, MODSEQs, flags, tombstones),
// counters and usage; imports are idempotent; a fence blocks writes and Drop leaves
// nothing behind and announces AccountMoved.

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// PairFunc opens a source and a target store over fresh, empty storage, publishing to
// pub (both may publish to it). It should register t.Cleanup to close them.
type PairFunc func(t *testing.T, pub store.Publisher) (src, dst store.Store)

// RunMigration runs the migration suite as subtests of t. The target must implement
// store.Importer; Fencer and BodyReader cases run when the source implements them.
func RunMigration(t *testing.T, open PairFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, p *pair)
	}{
		{"ImportIdentity", testImportIdentity},
		{"ImportIdempotent", testImportIdempotent},
		{"ImportMailboxes", testImportMailboxes},
		{"FenceRelease", testFenceRelease},
		{"FenceDrop", testFenceDrop},
		{"FenceSeal", testFenceSeal},
		{"ReadBodies", testReadBodies},
		{"ImportIndexedInBackground", testImportIndexedInBackground},
		{"ImportHeaderSearch", testImportHeaderSearch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &pair{pub: &recorder{}}
			p.src, p.dst = open(t, p.pub)
			imp, ok := p.dst.(store.Importer)
			if !ok {
				t.Fatalf("%T does not implement store.Importer", p.dst)
			}
			p.imp = imp
			p.h = &harness{t: t, ctx: t.Context(), pub: p.pub, s: p.src}
			tc.fn(t, p)
		})
	}
}

type pair struct {
	src, dst store.Store
	imp      store.Importer
	pub      *recorder
	h        *harness // over src
}

// copyAll copies the account from src to dst through the Importer, as a migration's
// first round does, and returns the target mailbox IDs by UIDVALIDITY.
func (p *pair) copyAll(t *testing.T, a store.AccountRef) map[uint32]store.MailboxID {
	t.Helper()
	ctx := t.Context()
	if err := p.imp.ImportAccount(ctx, a); err != nil {
		t.Fatalf("ImportAccount: %v", err)
	}
	boxes, err := p.src.Mailboxes(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[uint32]store.MailboxID{}
	for _, b := range boxes {
		id, err := p.imp.ImportMailbox(ctx, a, store.ImportMailbox{Name: b.Name, SpecialUse: b.SpecialUse,
			Subscribed: b.Subscribed, UIDValidity: b.UIDValidity})
		if err != nil {
			t.Fatalf("ImportMailbox %q: %v", b.Name, err)
		}
		ids[b.UIDValidity] = id
		var msgs []store.ImportMessage
		err = p.src.Messages(ctx, a, b.ID, store.Query{}, func(m store.Message) error {
			msgs = append(msgs, store.ImportMessage{UID: m.UID, ModSeq: m.ModSeq, Flags: m.Flags,
				InternalDate: m.InternalDate, Meta: m.Meta, Body: readAll(t, p.src, a, m.ID)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.imp.ImportMessages(ctx, a, id, msgs); err != nil {
			t.Fatalf("ImportMessages %q: %v", b.Name, err)
		}
		gone, err := p.src.Vanished(ctx, a, b.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.imp.ImportExpunged(ctx, a, id, gone, b.HighestModSeq); err != nil {
			t.Fatalf("ImportExpunged: %v", err)
		}
		if err := p.imp.SetMailboxSync(ctx, a, id, b.UIDNext, b.HighestModSeq); err != nil {
			t.Fatalf("SetMailboxSync: %v", err)
		}
	}
	return ids
}

func readAll(t *testing.T, st store.Store, a store.AccountRef, id int64) store.Body {
	t.Helper()
	bl, err := st.OpenBlob(t.Context(), a, id)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = bl.Close() }()
	data := make([]byte, bl.Size())
	if _, err := bl.ReadAt(data, 0); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(data)
}

// sameAccount fails t unless dst holds a's mailboxes and messages as src does.
func sameAccount(t *testing.T, src, dst store.Store, a store.AccountRef) {
	t.Helper()
	ctx := t.Context()
	sb, err := src.Mailboxes(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := dst.Mailboxes(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(sb) != len(db) {
		t.Fatalf("%d mailboxes on the target, %d on the source", len(db), len(sb))
	}
	for i := range sb {
		s, d := sb[i], db[i]
		sid := s.ID
		s.ID, d.ID = 0, 0
		if s != d {
			t.Errorf("mailbox on the target %+v, source %+v", d, s)
			continue
		}
		list := func(st store.Store, id store.MailboxID) ([]store.Message, []int) {
			var out []store.Message
			var zones []int // the INTERNALDATE's zone offsets: kept by the import too
			if err := st.Messages(ctx, a, id, store.Query{}, func(m store.Message) error {
				m.ID, m.MailboxID = 0, 0
				_, off := m.InternalDate.Zone()
				zones = append(zones, off)
				m.InternalDate = m.InternalDate.UTC().Truncate(1000) // microseconds
				out = append(out, m)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return out, zones
		}
		sm, sz := list(src, sid)
		dm, dz := list(dst, db[i].ID)
		if !slices.Equal(sz, dz) {
			t.Errorf("%q: zones %v on the target, %v on the source", s.Name, dz, sz)
		}
		if len(sm) != len(dm) {
			t.Errorf("%q: %d messages on the target, %d on the source", s.Name, len(dm), len(sm))
			continue
		}
		for k := range sm {
			x, y := sm[k], dm[k]
			if x.UID != y.UID || x.ModSeq != y.ModSeq || !slices.Equal(x.Flags, y.Flags) || x.Size != y.Size ||
				x.BlobID != y.BlobID || !x.InternalDate.Equal(y.InternalDate) || !bytes.Equal(x.Meta, y.Meta) {
				t.Errorf("%q: target %+v, source %+v", s.Name, y, x)
			}
		}
		sv, err := src.Vanished(ctx, a, sid, 0)
		if err != nil {
			t.Fatal(err)
		}
		dv, err := dst.Vanished(ctx, a, db[i].ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sv, dv) {
			t.Errorf("%q: vanished %v on the target, %v on the source", s.Name, dv, sv)
		}
	}
	su, err := src.Usage(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	du, err := dst.Usage(ctx, a)
	if err != nil || du != su {
		t.Errorf("usage on the target %+v, %v; source %+v", du, err, su)
	}
}

// seedAccount gives a an interesting state on the source: messages in two mailboxes,
// flags, an expunge, a renamed and an unsubscribed mailbox, a shared body.
func (p *pair) seedAccount(t *testing.T, a store.AccountRef) {
	t.Helper()
	h := p.h
	h.account(a.Domain, a.ID)
	h.deliverN(a, "INBOX", 5)
	h.deliver(a, "INBOX", h.message(), store.FlagSeen, "$Label1")
	work := h.create(a, "Work")
	h.deliverN(a, "Work", 3)
	// One message whose INTERNALDATE has a zone of its own (an APPEND with +0530).
	if res, err := p.src.Deliver(h.ctx, store.Delivery{Body: strings.NewReader(h.message()),
		InternalDate: time.Date(2026, 3, 1, 9, 30, 0, 0, time.FixedZone("", 19800)),
		Targets:      []store.DeliveryTarget{{Account: a, Mailbox: "Work"}}}); err != nil || res[0].Err != nil {
		t.Fatalf("deliver with a zone: %v %v", err, res)
	}
	inbox := h.mailbox(a, "INBOX")
	if _, err := p.src.StoreFlags(h.ctx, a, inbox.ID, store.FlagUpdate{UIDs: []store.UID{2, 3}, Op: store.FlagsAdd,
		Flags: []string{store.FlagFlagged}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.src.Expunge(h.ctx, a, inbox.ID, []store.UID{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.src.Copy(h.ctx, a, inbox.ID, []store.UID{4}, work.ID, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	if err := p.src.RenameMailbox(h.ctx, a, "Work", "Projects"); err != nil {
		t.Fatal(err)
	}
	if err := p.src.SetSubscribed(h.ctx, a, "Trash", false); err != nil {
		t.Fatal(err)
	}
}

func testImportIdentity(t *testing.T, p *pair) {
	a := acct("example.com", 7)
	p.seedAccount(t, a)
	p.pub.take()
	p.copyAll(t, a)
	sameAccount(t, p.src, p.dst, a)
	if got := p.pub.take(); len(got) != 0 {
		t.Errorf("imports published %v", got)
	}
	// The target continues where the source stopped.
	ctx := t.Context()
	inbox, err := p.dst.Mailbox(ctx, a, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.dst.Deliver(ctx, store.Delivery{Body: body(p.h.message()), Targets: []store.DeliveryTarget{{Account: a}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("deliver on the target: %v %+v", err, res)
	}
	if res[0].UID != inbox.UIDNext {
		t.Errorf("new UID %d, want UIDNEXT %d", res[0].UID, inbox.UIDNext)
	}
	after, err := p.dst.Mailbox(ctx, a, "INBOX")
	if err != nil || after.HighestModSeq <= inbox.HighestModSeq {
		t.Errorf("HIGHESTMODSEQ %d after a delivery, was %d (%v)", after.HighestModSeq, inbox.HighestModSeq, err)
	}
	nb, err := p.dst.CreateMailbox(ctx, a, "Fresh", "")
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := p.dst.Mailboxes(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range boxes {
		if b.ID != nb.ID && b.UIDValidity >= nb.UIDValidity {
			t.Errorf("new mailbox UIDVALIDITY %d not above imported %q's %d", nb.UIDValidity, b.Name, b.UIDValidity)
		}
	}
}

func testImportIdempotent(t *testing.T, p *pair) {
	a := acct("example.com", 8)
	p.seedAccount(t, a)
	p.copyAll(t, a)
	p.copyAll(t, a) // again: nothing doubles
	sameAccount(t, p.src, p.dst, a)
	ctx := t.Context()
	src := p.h.mailbox(a, "INBOX")
	dst, err := p.dst.Mailbox(ctx, a, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	// Flag updates without a body; an unknown UID without a body is ErrNotFound.
	if err := p.imp.ImportMessages(ctx, a, dst.ID, []store.ImportMessage{{UID: 2, ModSeq: src.HighestModSeq + 1,
		Flags: []string{"$New"}}}); err != nil {
		t.Fatal(err)
	}
	var got store.Message
	if err := p.dst.Messages(ctx, a, dst.ID, store.Query{MinUID: 2, MaxUID: 2}, func(m store.Message) error {
		got = m
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Flags, []string{"$New"}) || got.ModSeq != src.HighestModSeq+1 {
		t.Errorf("after a flag import: %+v", got)
	}
	err = p.imp.ImportMessages(ctx, a, dst.ID, []store.ImportMessage{{UID: 999, ModSeq: 1}})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("flags for an unknown UID: %v, want ErrNotFound", err)
	}
	// Expunged UIDs go, with their usage.
	before, err := p.dst.Usage(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.imp.ImportExpunged(ctx, a, dst.ID, []store.UID{2, 3, 500}, src.HighestModSeq+2); err != nil {
		t.Fatal(err)
	}
	u, err := p.dst.Usage(ctx, a)
	if err != nil || u.Messages != before.Messages-2 {
		t.Errorf("usage after importing 2 expunges: %+v (was %+v), %v", u, before, err)
	}
	v, err := p.dst.Vanished(ctx, a, dst.ID, src.HighestModSeq+1)
	if err != nil || !slices.Equal(v, []store.UID{2, 3, 500}) {
		t.Errorf("vanished after import: %v, %v", v, err)
	}
	// The round ends with the watermark, as a migration's does.
	if err := p.imp.SetMailboxSync(ctx, a, dst.ID, 501, src.HighestModSeq+2); err != nil {
		t.Fatal(err)
	}
	if m, err := p.dst.Mailbox(ctx, a, "INBOX"); err != nil || m.UIDNext != 501 || m.HighestModSeq != src.HighestModSeq+2 {
		t.Errorf("after SetMailboxSync: %+v, %v", m, err)
	}
}

func testImportMailboxes(t *testing.T, p *pair) {
	ctx := t.Context()
	a := acct("example.com", 9)
	if err := p.imp.ImportAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := p.imp.ImportAccount(ctx, a); err != nil {
		t.Fatalf("ImportAccount again: %v", err)
	}
	if boxes, err := p.dst.Mailboxes(ctx, a); err != nil || len(boxes) != 0 {
		t.Fatalf("ImportAccount made mailboxes %v, %v", boxes, err)
	}
	x, err := p.imp.ImportMailbox(ctx, a, store.ImportMailbox{Name: "INBOX", UIDValidity: 100})
	if err != nil {
		t.Fatal(err)
	}
	y, err := p.imp.ImportMailbox(ctx, a, store.ImportMailbox{Name: "A", UIDValidity: 101, Subscribed: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.imp.ImportMailbox(ctx, a, store.ImportMailbox{Name: "A", UIDValidity: 102}); !errors.Is(err, store.ErrExists) {
		t.Errorf("a second mailbox named A: %v, want ErrExists", err)
	}
	y2, err := p.imp.ImportMailbox(ctx, a, store.ImportMailbox{Name: "B", SpecialUse: store.Archive, UIDValidity: 101})
	if err != nil || y2 != y {
		t.Fatalf("rename by UIDVALIDITY: %v, %v (was %v)", y2, err, y)
	}
	b, err := p.dst.Mailbox(ctx, a, "B")
	if err != nil || b.SpecialUse != store.Archive || b.Subscribed || b.UIDValidity != 101 {
		t.Errorf("renamed mailbox %+v, %v", b, err)
	}
	if _, err := p.imp.ImportMailbox(ctx, a, store.ImportMailbox{Name: "C", UIDValidity: 0}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("UIDVALIDITY 0: %v, want ErrInvalid", err)
	}
	if err := p.imp.DropMailbox(ctx, a, x); err != nil {
		t.Fatalf("drop INBOX: %v", err)
	}
	if err := p.imp.DropMailbox(ctx, a, x); err != nil {
		t.Errorf("drop again: %v", err)
	}
	if _, err := p.dst.Mailbox(ctx, a, "INBOX"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("INBOX after drop: %v", err)
	}
}

func fencer(t *testing.T, p *pair) store.Fencer {
	f, ok := p.src.(store.Fencer)
	if !ok {
		t.Skipf("%T does not implement store.Fencer", p.src)
	}
	return f
}

// testFenceRelease: a delivery during a fence completes after Release.
func testFenceRelease(t *testing.T, p *pair) {
	fen := fencer(t, p)
	a := acct("example.com", 10)
	p.h.account(a.Domain, a.ID)
	f, err := fen.Fence(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		res, err := p.src.Deliver(context.WithoutCancel(t.Context()), store.Delivery{Body: body("Subject: x\r\n\r\nx\r\n"),
			Targets: []store.DeliveryTarget{{Account: a}}})
		if err == nil {
			err = res[0].Err
		}
		done <- err
	}()
	if err := f.Release(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("delivery after the fence: %v", err)
	}
	if err := f.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if u, err := p.src.Usage(t.Context(), a); err != nil || u.Messages != 1 {
		t.Errorf("usage %+v, %v", u, err)
	}
}

// testFenceSeal: after Seal, a fence that ends without Drop (its process killed) lets no
// write through (a delivery that waited finds no account, nothing stored); Unseal lets
// writes through again; Drop clears the seal with the account.
func testFenceSeal(t *testing.T, p *pair) {
	fen := fencer(t, p)
	a := acct("example.com", 13)
	p.h.account(a.Domain, a.ID)
	p.h.deliverN(a, "INBOX", 1)
	deliver := func() error {
		res, err := p.src.Deliver(context.WithoutCancel(t.Context()), store.Delivery{Body: body("Subject: z\r\n\r\nz\r\n"),
			Targets: []store.DeliveryTarget{{Account: a}}})
		if err == nil {
			err = res[0].Err
		}
		return err
	}
	f, err := fen.Fence(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- deliver() }()
	if err := f.Seal(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f.Release(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delivery during a sealed fence that ended without Drop: %v, want ErrNotFound", err)
	}
	if err := deliver(); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delivery to a sealed account: %v, want ErrNotFound", err)
	}
	if u, err := p.src.Usage(t.Context(), a); err == nil && u.Messages != 1 {
		t.Errorf("sealed account's usage %+v", u)
	}
	if err := fen.Unseal(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if err := deliver(); err != nil {
		t.Errorf("delivery after Unseal: %v", err)
	}
	if f, err = fen.Fence(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Seal(t.Context()), f.Drop(t.Context()), f.Purge(t.Context())); err != nil {
		t.Fatal(err)
	}
	p.h.account(a.Domain, a.ID) // back later: the seal went with the account
	p.h.deliverN(a, "INBOX", 1)
}

// testFenceDrop: Drop removes the account; a delivery that waited on the fence finds no
// account (nothing stored); AccountMoved is published.
func testFenceDrop(t *testing.T, p *pair) {
	fen := fencer(t, p)
	a := acct("example.com", 11)
	other := acct("example.com", 12)
	p.h.account(a.Domain, a.ID)
	p.h.account(other.Domain, other.ID)
	p.h.deliverN(a, "INBOX", 3)
	p.h.deliverN(other, "INBOX", 1)
	p.pub.take()
	f, err := fen.Fence(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []store.DeliveryResult, 1)
	go func() {
		res, err := p.src.Deliver(context.WithoutCancel(t.Context()), store.Delivery{Body: body("Subject: y\r\n\r\ny\r\n"),
			Targets: []store.DeliveryTarget{{Account: a}}})
		if err != nil {
			res = []store.DeliveryResult{{Err: err}}
		}
		done <- res
	}()
	if err := f.Drop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f.Purge(t.Context()); err != nil {
		t.Errorf("second Purge: %v", err)
	}
	if res := <-done; !errors.Is(res[0].Err, store.ErrNotFound) {
		t.Errorf("delivery that waited on the fence: %+v, want ErrNotFound", res)
	}
	if _, err := p.src.Usage(t.Context(), a); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("dropped account: %v", err)
	}
	if u, err := p.src.Usage(t.Context(), other); err != nil || u.Messages != 1 {
		t.Errorf("another account after the drop: %+v, %v", u, err)
	}
	moved := false
	for _, c := range p.pub.take() {
		moved = moved || (c.Kind == store.AccountMoved && c.Account == a)
	}
	if !moved {
		t.Error("no AccountMoved published")
	}
	if err := f.Release(); err != nil {
		t.Errorf("Release after Drop: %v", err)
	}
	// The account can live here again (moved back later).
	p.h.account(a.Domain, a.ID)
	p.h.deliverN(a, "INBOX", 1)
}

func testReadBodies(t *testing.T, p *pair) {
	br, ok := p.src.(store.BodyReader)
	if !ok {
		t.Skipf("%T does not implement store.BodyReader", p.src)
	}
	a := acct("example.com", 13)
	other := acct("example.com", 14)
	p.h.account(a.Domain, a.ID)
	p.h.account(other.Domain, other.ID)
	want := map[int64]string{}
	for range 3 {
		m := p.h.message()
		want[p.h.deliver(a, "INBOX", m).MessageID] = m
	}
	foreign := p.h.deliver(other, "INBOX", p.h.message()).MessageID
	var ids []int64
	for id := range want {
		ids = append(ids, id)
	}
	got := map[int64]string{}
	err := br.ReadBodies(t.Context(), a, append(ids, foreign, 1<<40), func(id int64, b []byte) error {
		got[id] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("read %d bodies, want %d (another account's and unknown IDs skipped)", len(got), len(want))
	}
	for id, m := range want {
		if got[id] != m {
			t.Errorf("body %d: %q, want %q", id, got[id], m)
		}
	}
}
