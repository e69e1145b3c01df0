package pop3server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"mailgrid/internal/store"
)

// entry is one message of the maildrop snapshot: what LIST, UIDL and RETR need, never the
// body (RETR streams it from the blob store) nor the cached MIME structure.
type entry struct {
	id        int64 // store message id, for OpenBlob
	uid       store.UID
	size      int64
	deleted   bool // marked by DELE, removed in UPDATE
	retrieved bool // sent whole by RETR: gets \Seen in UPDATE
}

// maildrop is the session's view of INBOX, fixed at login: message numbers 1..n never
// change during the session and messages delivered later are not in it (RFC 1939 3).
type maildrop struct {
	mbox        store.MailboxID
	uidValidity uint32
	msgs        []entry
	count       int   // messages not marked deleted
	size        int64 // their octets
}

// loadMaildrop snapshots the account's INBOX. An account the store does not know yet
// (no mail ever delivered) has an empty maildrop.
func loadMaildrop(ctx context.Context, st store.Store, ref store.AccountRef) (*maildrop, error) {
	mb, err := st.Mailbox(ctx, ref, store.Inbox)
	if errors.Is(err, store.ErrNotFound) {
		return &maildrop{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	d := &maildrop{mbox: mb.ID, uidValidity: mb.UIDValidity, msgs: make([]entry, 0, mb.Messages)}
	err = st.Messages(ctx, ref, mb.ID, store.Query{}, func(m store.Message) error {
		d.msgs = append(d.msgs, entry{id: m.ID, uid: m.UID, size: m.Size})
		d.count++
		d.size += m.Size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inbox messages: %w", err)
	}
	return d, nil
}

// get parses a message number argument (RFC 1939 5: 1-based, may not refer to a message
// marked as deleted).
func (d *maildrop) get(arg string) (int, *entry, error) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 || arg[0] < '0' || arg[0] > '9' {
		return 0, nil, errMsgNumber
	}
	if n > len(d.msgs) {
		return 0, nil, &Error{Text: fmt.Sprintf("No such message, only %d messages in maildrop", len(d.msgs))}
	}
	e := &d.msgs[n-1]
	if e.deleted {
		return 0, nil, errDeleted
	}
	return n, e, nil
}

// uidl is the unique-id of a message (RFC 1939 7): UIDVALIDITY and UID of INBOX in hex,
// so it is the same in every session and never reused for another message (RFC 9051
// 2.3.1.1), and IMAP and POP3 agree on what is the same message.
func (d *maildrop) uidl(e *entry) string {
	return fmt.Sprintf("%08x%08x", d.uidValidity, uint32(e.uid))
}

func (d *maildrop) markDeleted(e *entry) {
	e.deleted = true
	d.count--
	d.size -= e.size
}

func (d *maildrop) reset() {
	for i := range d.msgs {
		if e := &d.msgs[i]; e.deleted {
			e.deleted = false
			d.count++
			d.size += e.size
		}
	}
}

// commit is the UPDATE state (RFC 1939 6): messages retrieved and kept get \Seen (as
// Dovecot does, so IMAP shows them read), messages marked deleted are expunged in one
// store call (IMAP sessions see ordinary expunges). It returns the messages left.
func (d *maildrop) commit(ctx context.Context, st store.Store, ref store.AccountRef, log *slog.Logger) (int, error) {
	var del, seen []store.UID
	for _, e := range d.msgs {
		switch {
		case e.deleted:
			del = append(del, e.uid)
		case e.retrieved:
			seen = append(seen, e.uid)
		}
	}
	if len(seen) > 0 {
		_, err := st.StoreFlags(ctx, ref, d.mbox, store.FlagUpdate{UIDs: seen, Op: store.FlagsAdd, Flags: []string{store.FlagSeen}})
		if err != nil { // flags are a courtesy: the deletions still happen
			log.Warn("UPDATE: set \\Seen", "err", err)
		}
	}
	if len(del) == 0 {
		return d.count, nil
	}
	gone, err := st.Expunge(ctx, ref, d.mbox, del)
	if err != nil {
		log.Error("UPDATE: expunge", "err", err)
		return d.count, err
	}
	log.Info("UPDATE", "deleted", len(gone), "already gone", len(del)-len(gone))
	return d.count, nil
}

// update runs UPDATE for the session and releases the maildrop lock before the reply.
func (s *session) update() (int, error) {
	defer s.unlock()
	return s.drop.commit(s.ctx, s.st, s.ref, s.log)
}
