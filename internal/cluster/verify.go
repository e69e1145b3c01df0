package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"mailgrid/internal/store"
)

// ErrMismatch is returned by Verify when the target differs from the source.
var ErrMismatch = errors.New("target differs from source")

// Report is what Verify compared.
type Report struct {
	Mailboxes int
	Messages  int
	Bytes     int64
}

// Verify compares the account on src and dst: the same mailboxes (by UIDVALIDITY) with
// the same name, special-use, subscription, UIDNEXT, HIGHESTMODSEQ and counters, the
// same messages (UID, MODSEQ, flags, internal date, size and body SHA-256), and the same
// usage. Run it while the source is fenced for an exact answer.
func Verify(ctx context.Context, src, dst store.Store, ref store.AccountRef) (Report, error) {
	var r Report
	sb, err := mailboxes(ctx, src, ref)
	if err != nil {
		return r, fmt.Errorf("source mailboxes: %w", err)
	}
	db, err := mailboxes(ctx, dst, ref)
	if err != nil {
		return r, fmt.Errorf("target mailboxes: %w", err)
	}
	if len(sb) != len(db) {
		return r, fmt.Errorf("%w: %d mailboxes on the source, %d on the target", ErrMismatch, len(sb), len(db))
	}
	byV := make(map[uint32]store.Mailbox, len(db))
	for _, d := range db {
		byV[d.UIDValidity] = d
	}
	for _, s := range sb {
		d, ok := byV[s.UIDValidity]
		if !ok {
			return r, fmt.Errorf("%w: mailbox %q (UIDVALIDITY %d) missing on the target", ErrMismatch, s.Name, s.UIDValidity)
		}
		if s.Name != d.Name || s.SpecialUse != d.SpecialUse || s.Subscribed != d.Subscribed || s.UIDNext != d.UIDNext ||
			s.HighestModSeq != d.HighestModSeq || s.Messages != d.Messages || s.Unseen != d.Unseen || s.Size != d.Size {
			return r, fmt.Errorf("%w: mailbox %q: source %s, target %s", ErrMismatch, s.Name, boxState(s), boxState(d))
		}
		if err := sameMessages(ctx, src, dst, ref, s, d); err != nil {
			return r, err
		}
		r.Mailboxes++
		r.Messages += s.Messages
		r.Bytes += s.Size
	}
	su, err := usage(ctx, src, ref)
	if err != nil {
		return r, err
	}
	du, err := usage(ctx, dst, ref)
	if err != nil {
		return r, err
	}
	if su != du {
		return r, fmt.Errorf("%w: usage %+v on the source, %+v on the target", ErrMismatch, su, du)
	}
	return r, nil
}

func usage(ctx context.Context, st store.Store, ref store.AccountRef) (store.Usage, error) {
	u, err := st.Usage(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return store.Usage{}, nil
	}
	return u, err
}

func boxState(m store.Mailbox) string {
	return fmt.Sprintf("{name %q special-use %q subscribed %v uidnext %d highestmodseq %d messages %d unseen %d size %d}",
		m.Name, m.SpecialUse, m.Subscribed, m.UIDNext, m.HighestModSeq, m.Messages, m.Unseen, m.Size)
}

// sameMessages compares two mailboxes message by message: by their digests when both
// stores make them (store.Digester, one query per side, both at once), listing the
// messages only when the digests differ, to name the first difference.
func sameMessages(ctx context.Context, src, dst store.Store, ref store.AccountRef, s, d store.Mailbox) error {
	sd, ok1 := src.(store.Digester)
	dd, ok2 := dst.(store.Digester)
	if !ok1 || !ok2 {
		return listAndCompare(ctx, src, dst, ref, s, d)
	}
	var dn int64
	var dsum [32]byte
	var derr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		dn, dsum, derr = dd.DigestMessages(ctx, ref, d.ID)
	}()
	sn, ssum, err := sd.DigestMessages(ctx, ref, s.ID)
	<-done
	if err != nil {
		return fmt.Errorf("source digest of %q: %w", s.Name, err)
	}
	if derr != nil {
		return fmt.Errorf("target digest of %q: %w", d.Name, derr)
	}
	if sn == dn && ssum == dsum {
		return nil
	}
	if err := listAndCompare(ctx, src, dst, ref, s, d); err != nil {
		return err
	}
	return fmt.Errorf("%w: mailbox %q: the digests differ (%d messages, %x; %d, %x)", ErrMismatch, s.Name, sn, ssum, dn, dsum)
}

// listAndCompare compares two mailboxes message by message.
func listAndCompare(ctx context.Context, src, dst store.Store, ref store.AccountRef, s, d store.Mailbox) error {
	list := func(st store.Store, id store.MailboxID) ([]store.Message, error) {
		var out []store.Message
		err := st.Messages(ctx, ref, id, store.Query{NoMeta: true}, func(m store.Message) error {
			out = append(out, m)
			return nil
		})
		return out, err
	}
	var dm []store.Message
	var derr error
	done := make(chan struct{})
	go func() { // both sides at once: this runs inside the fence
		defer close(done)
		dm, derr = list(dst, d.ID)
	}()
	sm, err := list(src, s.ID)
	<-done
	if err != nil {
		return fmt.Errorf("source messages of %q: %w", s.Name, err)
	}
	if derr != nil {
		return fmt.Errorf("target messages of %q: %w", d.Name, derr)
	}
	if len(sm) != len(dm) {
		return fmt.Errorf("%w: mailbox %q: %d messages on the source, %d on the target", ErrMismatch, s.Name, len(sm), len(dm))
	}
	for i := range sm {
		a, b := sm[i], dm[i]
		if a.UID != b.UID || a.ModSeq != b.ModSeq || !slices.Equal(a.Flags, b.Flags) || a.Size != b.Size ||
			a.BlobID != b.BlobID || !a.InternalDate.Equal(b.InternalDate) {
			return fmt.Errorf("%w: mailbox %q UID %d: source {uid %d modseq %d flags %v size %d sha256 %s date %s}, "+
				"target {uid %d modseq %d flags %v size %d sha256 %s date %s}", ErrMismatch, s.Name, a.UID,
				a.UID, a.ModSeq, a.Flags, a.Size, a.BlobID, a.InternalDate, b.UID, b.ModSeq, b.Flags, b.Size, b.BlobID, b.InternalDate)
		}
	}
	return nil
}
