package imapserver

import (
	"context"
	"errors"
	"strings"

	"mailgrid/internal/store"
)

// cmdCreate: RFC 9051 6.3.4, with the USE parameter of CREATE-SPECIAL-USE (RFC 6154 3).
func cmdCreate(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	raw, err := s.p.astring()
	if err != nil {
		return err
	}
	var uses []string
	if s.p.take(' ') {
		err := s.p.list(func() error {
			a, err := s.p.atom()
			if err != nil || !strings.EqualFold(a, "USE") {
				return bad("unknown CREATE parameter")
			}
			if err := s.p.sp(); err != nil {
				return err
			}
			return s.p.list(func() error {
				f, err := s.p.flag()
				uses = append(uses, f)
				return err
			})
		})
		if err != nil {
			return err
		}
	}
	if err := s.p.end(); err != nil {
		return err
	}
	// RFC 9051 6.3.4: a trailing separator declares the intent to create inferiors.
	raw = strings.TrimSuffix(raw, store.MailboxSeparator)
	name, err := s.decodeMailbox(raw)
	if err != nil {
		return err
	}
	special, rerr := specialUse(uses)
	if rerr != nil {
		return rerr
	}
	if name == store.Inbox {
		return no(codeAlreadyExists, "INBOX always exists")
	}
	if _, err := s.st.CreateMailbox(context.Background(), s.ref, name, special); err != nil {
		if errors.Is(err, store.ErrInvalid) && special != "" {
			return no("USEATTR", "special-use attribute not accepted")
		}
		return storeError(err, "CREATE")
	}
	return nil
}

// specialUse checks CREATE's USE list: at most one of the RFC 6154 attributes we keep.
func specialUse(uses []string) (string, *respError) {
	if len(uses) == 0 {
		return "", nil
	}
	if len(uses) > 1 {
		return "", no("USEATTR", "only one special-use attribute per mailbox")
	}
	for _, su := range []string{store.Drafts, store.Sent, store.Trash, store.Junk, store.Archive} {
		if strings.EqualFold(uses[0], su) {
			return su, nil
		}
	}
	return "", no("USEATTR", "special-use attribute %s not supported", uses[0])
}

// cmdDelete: RFC 9051 6.3.5. Deleting the selected mailbox closes it first.
func cmdDelete(s *session, c *command) error {
	name, err := s.oneMailboxArg()
	if err != nil {
		return err
	}
	if name == store.Inbox {
		return no(codeCannot, "INBOX cannot be deleted")
	}
	if s.sel != nil && s.sel.mbox.Name == name {
		s.unselect()
		s.w.raw("* OK [CLOSED] Mailbox closed\r\n")
	}
	if err := s.st.DeleteMailbox(context.Background(), s.ref, name); err != nil {
		if errors.Is(err, store.ErrHasChildren) {
			return no("HASCHILDREN", "mailbox has inferior mailboxes")
		}
		return storeError(err, "DELETE")
	}
	return nil
}

// cmdRename: RFC 9051 6.3.6. Renaming INBOX (moving its messages) is not supported.
func cmdRename(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	from, err := s.mailboxArg()
	if err != nil {
		return err
	}
	if err := s.p.sp(); err != nil {
		return err
	}
	to, err := s.mailboxArg()
	if err != nil {
		return err
	}
	if err := s.p.end(); err != nil {
		return err
	}
	if to == store.Inbox {
		return no(codeAlreadyExists, "INBOX always exists")
	}
	if from == store.Inbox {
		return s.renameInbox(to)
	}
	if err := s.st.RenameMailbox(context.Background(), s.ref, from, to); err != nil {
		return storeError(err, "RENAME")
	}
	if s.sel != nil && s.sel.mbox.Name == from {
		s.sel.mbox.Name = to
	}
	return nil
}

// cmdSubscribe: SUBSCRIBE and UNSUBSCRIBE, RFC 9051 6.3.7, 6.3.8.
func cmdSubscribe(s *session, c *command) error {
	name, err := s.oneMailboxArg()
	if err != nil {
		return err
	}
	err = s.st.SetSubscribed(context.Background(), s.ref, name, c.name == "SUBSCRIBE")
	// RFC 9051 6.3.8: UNSUBSCRIBE of a name that is not subscribed is OK. Subscriptions
	// are kept on mailboxes, so a name without a mailbox is not subscribed.
	if c.name == "UNSUBSCRIBE" && errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return storeError(err, c.name)
	}
	return nil
}

// oneMailboxArg parses " mailbox" CRLF.
func (s *session) oneMailboxArg() (string, error) {
	if err := s.p.sp(); err != nil {
		return "", err
	}
	name, err := s.mailboxArg()
	if err != nil {
		return "", err
	}
	return name, s.p.end()
}

// renameBatch is how many messages one Move of RENAME INBOX carries.
const renameBatch = 500

// renameInbox: RENAME INBOX (RFC 9051 6.3.6) moves every message of INBOX to a new
// mailbox of the given name and leaves INBOX, empty, in place; INBOX's inferiors are
// not renamed. The messages go in batches of atomic moves (store.Move), so a failure
// part way leaves each message in one of the two mailboxes, never lost or doubled, and
// the command can be repeated into another name.
func (s *session) renameInbox(to string) error {
	ctx := context.Background()
	inbox, err := s.st.Mailbox(ctx, s.ref, store.Inbox)
	if err != nil {
		return storeError(err, "RENAME")
	}
	dst, err := s.st.CreateMailbox(ctx, s.ref, to, "")
	if err != nil {
		return storeError(err, "RENAME")
	}
	next := store.UID(1) // a cursor, so every round makes progress whatever Move did
	for {
		var uids []store.UID
		err := s.st.Messages(ctx, s.ref, inbox.ID, store.Query{MinUID: next, Limit: renameBatch, NoMeta: true}, func(m store.Message) error {
			uids = append(uids, m.UID)
			return nil
		})
		if err == nil && len(uids) > 0 {
			_, err = s.st.Move(ctx, s.ref, inbox.ID, uids, dst.ID)
		}
		if err != nil {
			return storeError(err, "RENAME")
		}
		if len(uids) < renameBatch {
			return nil
		}
		next = uids[len(uids)-1] + 1
	}
}
