package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"mailgrid/internal/store"
)

// syncer copies one account from src to dst (see the package doc, steps 1 and 2).
type syncer struct {
	src store.Store
	dst store.Store
	imp store.Importer
	// flush makes imp's commits durable (asyncimport.go)
	flush asyncFlusher
	ref   store.AccountRef
	opt   Options

	messages, bytes int64 // copied (new on the target), all rounds
}

// mailboxes lists an account's mailboxes; an account the store does not know has none.
func mailboxes(ctx context.Context, st store.Store, ref store.AccountRef) ([]store.Mailbox, error) {
	boxes, err := st.Mailboxes(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return boxes, err
}

// tempName is where a target mailbox waits while another one takes its name (a rename
// cycle on the source, A and B swapped).
func tempName(v uint32) string { return fmt.Sprintf("mailgrid-move-%d", v) }

// round brings the target up to the source's state as of the round's start and reports
// how many changes it applied.
func (s *syncer) round(ctx context.Context) (int, error) {
	if _, err := s.dst.Usage(ctx, s.ref); errors.Is(err, store.ErrNotFound) {
		err = s.imp.ImportAccount(ctx, s.ref)
		if err != nil {
			return 0, fmt.Errorf("target: %w", err)
		}
	} else if err != nil {
		return 0, fmt.Errorf("target: %w", err)
	}
	srcBoxes, err := mailboxes(ctx, s.src, s.ref)
	if err != nil {
		return 0, fmt.Errorf("source mailboxes: %w", err)
	}
	dstBoxes, err := mailboxes(ctx, s.dst, s.ref)
	if err != nil {
		return 0, fmt.Errorf("target mailboxes: %w", err)
	}
	want := make(map[uint32]bool, len(srcBoxes))
	for _, b := range srcBoxes {
		want[b.UIDValidity] = true
	}
	have := make(map[uint32]store.Mailbox, len(dstBoxes))
	holder := make(map[string]uint32, len(dstBoxes)) // target name -> UIDVALIDITY
	changes := 0
	for _, d := range dstBoxes {
		if !want[d.UIDValidity] {
			if err := s.imp.DropMailbox(ctx, s.ref, d.ID); err != nil {
				return 0, fmt.Errorf("target: drop %q: %w", d.Name, err)
			}
			changes++
			continue
		}
		have[d.UIDValidity] = d
		holder[d.Name] = d.UIDValidity
	}
	for _, sb := range srcBoxes {
		d, ok := have[sb.UIDValidity]
		if !ok || d.Name != sb.Name || d.SpecialUse != sb.SpecialUse || d.Subscribed != sb.Subscribed {
			id, err := s.importMailbox(ctx, sb, have, holder)
			if err != nil {
				return 0, err
			}
			if !ok {
				d = store.Mailbox{ID: id}
			}
			d.Name = sb.Name
			have[sb.UIDValidity] = d
			changes++
		}
		n, err := s.syncMailbox(ctx, sb, d, ok)
		if err != nil {
			return 0, fmt.Errorf("mailbox %q: %w", sb.Name, err)
		}
		changes += n
	}
	return changes, nil
}

// importMailbox creates or updates the target mailbox of sb, first moving aside a target
// mailbox that holds the name for another UIDVALIDITY.
func (s *syncer) importMailbox(ctx context.Context, sb store.Mailbox, have map[uint32]store.Mailbox, holder map[string]uint32) (store.MailboxID, error) {
	im := store.ImportMailbox{Name: sb.Name, SpecialUse: sb.SpecialUse, Subscribed: sb.Subscribed, UIDValidity: sb.UIDValidity}
	id, err := s.imp.ImportMailbox(ctx, s.ref, im)
	if errors.Is(err, store.ErrExists) {
		if v, ok := holder[sb.Name]; ok && v != sb.UIDValidity {
			o := have[v]
			if _, err := s.imp.ImportMailbox(ctx, s.ref, store.ImportMailbox{Name: tempName(v),
				SpecialUse: o.SpecialUse, Subscribed: o.Subscribed, UIDValidity: v}); err != nil {
				return 0, fmt.Errorf("target: set %q aside: %w", o.Name, err)
			}
			delete(holder, sb.Name)
			o.Name = tempName(v)
			have[v] = o
			id, err = s.imp.ImportMailbox(ctx, s.ref, im)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("target: mailbox %q: %w", sb.Name, err)
	}
	holder[sb.Name] = sb.UIDValidity
	return id, nil
}

// syncMailbox copies what changed in one mailbox since the target's watermark.
func (s *syncer) syncMailbox(ctx context.Context, sb, d store.Mailbox, existed bool) (int, error) {
	since := d.HighestModSeq
	if !existed || since > sb.HighestModSeq {
		since = 0 // new, or a watermark the source never had: copy everything
	}
	if existed && since == sb.HighestModSeq && d.UIDNext >= sb.UIDNext {
		return 0, nil // nothing happened since the last round
	}
	b := batch{s: s, mbox: d.ID, held: map[store.UID]bool{}}
	if existed {
		b.below = d.UIDNext
	}
	changes := 0
	gone, err := s.src.Vanished(ctx, s.ref, sb.ID, since)
	if err != nil {
		return 0, fmt.Errorf("source vanished: %w", err)
	}
	if len(gone) > 0 {
		changes += len(gone)
		// Tombstones are recorded at the watermark: an upper bound of their modseq, so
		// QRESYNC clients may hear of an expunge again, never miss one.
		if err := s.imp.ImportExpunged(ctx, s.ref, d.ID, gone, sb.HighestModSeq); err != nil {
			return 0, fmt.Errorf("target expunge: %w", err)
		}
	}
	err = s.src.Messages(ctx, s.ref, sb.ID, store.Query{ChangedSince: since}, func(m store.Message) error {
		changes++
		return b.add(ctx, m)
	})
	if err == nil {
		err = b.finish(ctx)
	}
	if err != nil {
		return 0, errors.Join(err, b.wait())
	}
	if err := s.imp.SetMailboxSync(ctx, s.ref, d.ID, sb.UIDNext, sb.HighestModSeq); err != nil {
		return 0, fmt.Errorf("target watermark: %w", err)
	}
	return changes, nil
}

// batch gathers messages for ImportMessages calls. Reading from the source and writing
// to the target overlap: while up to Options.Importers batches are imported (each in its
// own goroutine and transaction), the next is listed and its bodies read. Batches hold
// disjoint UIDs, so their order of commit does not matter. Only the caller's goroutine
// touches held and the counters.
//
// Which UIDs the target holds (a message it holds gets its flags and modseq, no body) is
// asked per batch, for the batch's UIDs below the target's UIDNEXT at the round's start
// (below): the target holds no UID at or above it but those this round imports. A
// catch-up round thus reads a few target rows, not the whole mailbox.
type batch struct {
	s     *syncer
	mbox  store.MailboxID
	below store.UID          // the target's UIDNEXT when the round began; 0: a new mailbox
	held  map[store.UID]bool // known held by the target (looked up, or imported)
	msgs  []store.Message
	bytes int64

	inflight []*importing // batches being imported, oldest first
}

// importing is a batch handed to the target.
type importing struct {
	done  chan error
	fresh []store.Message // the new messages it holds once done
}

func (b *batch) add(ctx context.Context, m store.Message) error {
	b.msgs = append(b.msgs, m)
	if !b.held[m.UID] {
		b.bytes += m.Size
	}
	if len(b.msgs) >= b.s.opt.BatchMessages || b.bytes >= b.s.opt.BatchBytes {
		return b.flush(ctx)
	}
	return nil
}

// flush reads the bodies of the new messages, waits until fewer than Options.Importers
// batches are in flight and starts importing this one.
func (b *batch) flush(ctx context.Context) error {
	if len(b.msgs) == 0 {
		return nil
	}
	s := b.s
	if err := b.lookupHeld(ctx); err != nil {
		return errors.Join(err, b.wait())
	}
	out := make([]store.ImportMessage, len(b.msgs))
	var fresh []int
	for i, m := range b.msgs {
		out[i] = store.ImportMessage{UID: m.UID, ModSeq: m.ModSeq, Flags: m.Flags, InternalDate: m.InternalDate, Meta: m.Meta}
		if !b.held[m.UID] {
			fresh = append(fresh, i)
		}
	}
	gone, err := s.readBodies(ctx, b.msgs, out, fresh)
	if err != nil {
		return errors.Join(err, b.wait())
	}
	if len(gone) > 0 { // expunged on the source while we read: the next round's Vanished
		keep := out[:0]
		for i, im := range out {
			if !gone[i] {
				keep = append(keep, im)
			}
		}
		out = keep
	}
	for len(b.inflight) >= s.opt.Importers {
		if err := b.waitOldest(); err != nil {
			return errors.Join(err, b.wait())
		}
	}
	next := &importing{done: make(chan error, 1)}
	for _, i := range fresh {
		if !gone[i] {
			next.fresh = append(next.fresh, b.msgs[i])
		}
	}
	go func() { next.done <- s.imp.ImportMessages(ctx, s.ref, b.mbox, out) }()
	b.inflight = append(b.inflight, next)
	b.msgs, b.bytes = make([]store.Message, 0, len(b.msgs)), 0
	return nil
}

// lookupHeld marks which of the batch's UIDs below b.below the target holds: one range
// query from the lowest to the highest of them.
func (b *batch) lookupHeld(ctx context.Context) error {
	var lo, hi store.UID
	for _, m := range b.msgs {
		if m.UID < b.below && !b.held[m.UID] {
			if lo == 0 || m.UID < lo {
				lo = m.UID
			}
			hi = max(hi, m.UID)
		}
	}
	if lo == 0 {
		return nil
	}
	err := b.s.dst.Messages(ctx, b.s.ref, b.mbox, store.Query{MinUID: lo, MaxUID: hi, NoMeta: true}, func(m store.Message) error {
		b.held[m.UID] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("target messages: %w", err)
	}
	return nil
}

// waitOldest waits for the oldest batch in flight and records what it imported.
func (b *batch) waitOldest() error {
	p := b.inflight[0]
	b.inflight = b.inflight[1:]
	if err := <-p.done; err != nil {
		return fmt.Errorf("target import: %w", err)
	}
	for _, m := range p.fresh {
		b.held[m.UID] = true
		b.s.messages++
		b.s.bytes += m.Size
	}
	return nil
}

// wait waits for every batch in flight.
func (b *batch) wait() error {
	var errs []error
	for len(b.inflight) > 0 {
		errs = append(errs, b.waitOldest())
	}
	return errors.Join(errs...)
}

// finish imports what is left and waits for it.
func (b *batch) finish(ctx context.Context) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	return b.wait()
}

// readBodies fills out[i].Body for i in fresh: with one store.BodyReader call when the
// source has it, else with Options.Readers concurrent OpenBlob reads. A message expunged
// meanwhile is reported in gone.
func (s *syncer) readBodies(ctx context.Context, msgs []store.Message, out []store.ImportMessage, fresh []int) (map[int]bool, error) {
	if br, ok := s.src.(store.BodyReader); ok && len(fresh) > 0 {
		idx := make(map[int64]int, len(fresh))
		ids := make([]int64, len(fresh))
		for k, i := range fresh {
			idx[msgs[i].ID], ids[k] = i, msgs[i].ID
		}
		err := br.ReadBodies(ctx, s.ref, ids, func(id int64, body []byte) error {
			out[idx[id]].Body = bytes.NewReader(body)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("source bodies: %w", err)
		}
		gone := map[int]bool{}
		for _, i := range fresh {
			if out[i].Body == nil {
				gone[i] = true
			}
		}
		return gone, nil
	}
	var (
		mu    sync.Mutex
		gone  = map[int]bool{}
		first error
		wg    sync.WaitGroup
		next  = make(chan int)
	)
	for range min(s.opt.Readers, len(fresh)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				data, err := s.readBody(ctx, msgs[i])
				mu.Lock()
				switch {
				case errors.Is(err, store.ErrNotFound):
					gone[i] = true
				case err != nil:
					if first == nil {
						first = err
					}
				default:
					out[i].Body = bytes.NewReader(data)
				}
				mu.Unlock()
			}
		}()
	}
	for _, i := range fresh {
		next <- i
	}
	close(next)
	wg.Wait()
	return gone, first
}

// readBody reads one message's body from the source.
func (s *syncer) readBody(ctx context.Context, m store.Message) ([]byte, error) {
	bl, err := s.src.OpenBlob(ctx, s.ref, m.ID)
	if err != nil {
		return nil, err
	}
	data := make([]byte, bl.Size())
	_, err = bl.ReadAt(data, 0)
	if errors.Is(err, io.EOF) && len(data) == int(bl.Size()) {
		err = nil
	}
	if cerr := bl.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("source body of UID %d: %w", m.UID, err)
	}
	return data, nil
}
