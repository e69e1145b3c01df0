package imapserver

import (
	"context"
	"errors"

	"mailgrid/internal/store"
)

// cmdCopy: COPY, UID COPY (RFC 9051 6.4.7), MOVE and UID MOVE (RFC 6851), answering
// COPYUID (RFC 4315 3). MOVE is atomic in the store; its COPYUID goes in an untagged OK
// before the expunges (RFC 6851 4.3).
func cmdCopy(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	set, err := s.p.seqSet()
	if err != nil {
		return err
	}
	if err := s.p.sp(); err != nil {
		return err
	}
	name, err := s.mailboxArg()
	if err != nil {
		return err
	}
	if err := s.p.end(); err != nil {
		return err
	}
	move := c.name == "MOVE"
	if move && s.sel.readOnly {
		return no("READ-ONLY", "mailbox is read-only")
	}
	uids, err := s.resolve(set, c.uid)
	if err != nil {
		return err
	}
	ctx := context.Background()
	dst, err := s.st.Mailbox(ctx, s.ref, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return no(codeTryCreate, "no such mailbox") // RFC 9051 6.4.7
		}
		return storeError(err, c.name)
	}
	if len(uids) == 0 {
		return nil
	}
	var pairs []store.UIDPair
	if move {
		pairs, err = s.st.Move(ctx, s.ref, s.sel.mbox.ID, uids, dst.ID)
	} else {
		q := store.Quota{Bytes: s.acct.QuotaBytes, Messages: s.acct.QuotaMessages}
		pairs, err = s.st.Copy(ctx, s.ref, s.sel.mbox.ID, uids, dst.ID, q)
	}
	if err != nil {
		if errors.Is(err, store.ErrInvalid) && dst.ID == s.sel.mbox.ID {
			return no(codeCannot, "cannot move a message into its own mailbox")
		}
		return storeError(err, c.name)
	}
	if len(pairs) == 0 {
		return nil
	}
	src := make([]uint32, len(pairs))
	dstUIDs := make([]uint32, len(pairs))
	moved := make([]store.UID, len(pairs))
	for i, p := range pairs {
		src[i], dstUIDs[i], moved[i] = uint32(p.Src), uint32(p.Dst), p.Src
	}
	code := "COPYUID " + itoa(int64(dst.UIDValidity)) + " " + numSetString(src) + " " + numSetString(dstUIDs)
	if !move {
		c.okCode = code
		return nil
	}
	s.w.raw("* OK [" + code + "] Moved\r\n")
	sortUIDs(moved)
	s.writeExpunged(moved)
	return nil
}
