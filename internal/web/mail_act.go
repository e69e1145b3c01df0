package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"mailgrid/internal/delivery"
	"mailgrid/internal/store"
)

// Actions on selected messages and on folders. Each is one store call per folder (the
// store commits it durably and publishes the bus events IMAP IDLE sessions see).

// selection parses the form's "uid" values: "UID" in folder mb, or "MB:UID" (search
// results span folders). It returns UIDs grouped by folder, in first-seen order.
func selection(c *mailCtx, mbField string, values []string) (map[store.MailboxID][]store.UID, []store.MailboxID, bool) {
	out := map[store.MailboxID][]store.UID{}
	var order []store.MailboxID
	def, hasDef := c.box(mbField)
	for _, v := range values {
		mbs, us, two := strings.Cut(v, ":")
		if !two {
			mbs, us = "", v
		}
		uid, err := strconv.ParseUint(us, 10, 32)
		if err != nil || uid == 0 {
			return nil, nil, false
		}
		mb, ok := def, hasDef
		if two {
			mb, ok = c.box(mbs)
		}
		if !ok {
			return nil, nil, false
		}
		if _, seen := out[mb.ID]; !seen {
			order = append(order, mb.ID)
		}
		out[mb.ID] = append(out[mb.ID], store.UID(uid))
	}
	return out, order, true
}

// actionDest resolves an action's destination folder; "spam" and "notspam" become moves
// (the Junk trainer, filter/trainer, learns from the move itself). A refusal comes back
// as a status and a message.
func actionDest(c *mailCtx, op, destField string) (string, store.Mailbox, int, string) {
	var dest store.Mailbox
	ok := true
	switch op {
	case "move":
		if dest, ok = c.box(destField); !ok {
			return op, dest, http.StatusNotFound, "No such destination folder."
		}
	case "trash":
		if dest, ok = c.special(store.Trash); !ok {
			return op, dest, http.StatusConflict, "There is no Trash folder; delete permanently instead."
		}
	case "spam":
		if dest, ok = c.special(store.Junk); !ok {
			return op, dest, http.StatusConflict, "There is no Junk folder."
		}
		op = "move"
	case "notspam":
		if dest, ok = c.special(store.Inbox); !ok {
			return op, dest, http.StatusConflict, "There is no INBOX."
		}
		op = "move"
	case "read", "unread", "flag", "unflag", "delete":
	default:
		return op, dest, http.StatusBadRequest, "Unknown action."
	}
	return op, dest, 0, ""
}

// applyAction runs op on uids of folder mb; it returns the flash key of what it did.
func applyAction(ctx context.Context, c *mailCtx, op string, mb store.MailboxID, uids []store.UID, dest store.Mailbox) (string, error) {
	var err error
	switch op {
	case "move", "trash":
		switch {
		case mb == dest.ID && op == "trash": // deleting in Trash removes for good
			_, err = c.st.Expunge(ctx, c.ref, mb, uids)
			return "deleted", err
		case mb == dest.ID: // already there
		default:
			_, err = c.st.Move(ctx, c.ref, mb, uids, dest.ID)
		}
		return map[string]string{"move": "moved", "trash": "trashed"}[op], err
	case "delete":
		_, err = c.st.Expunge(ctx, c.ref, mb, uids)
		return "deleted", err
	}
	u := store.FlagUpdate{UIDs: uids, Op: store.FlagsAdd, Flags: []string{store.FlagSeen}}
	switch op {
	case "unread":
		u.Op = store.FlagsRemove
	case "flag":
		u.Flags = []string{store.FlagFlagged}
	case "unflag":
		u.Op, u.Flags = store.FlagsRemove, []string{store.FlagFlagged}
	}
	_, err = c.st.StoreFlags(ctx, c.ref, mb, u)
	return "flags", err
}

func (s *Server) mailAct(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	if err := r.ParseForm(); err != nil {
		s.mailError(w, r, c, http.StatusBadRequest, "The form could not be read.")
		return
	}
	sel, order, ok := selection(c, r.PostFormValue("mb"), r.PostForm["uid"])
	if !ok {
		s.mailError(w, r, c, http.StatusNotFound, "No such folder or message.")
		return
	}
	if len(order) == 0 {
		s.mailError(w, r, c, http.StatusUnprocessableEntity, "Select at least one message first.")
		return
	}
	op, dest, status, msg := actionDest(c, r.PostFormValue("op"), r.PostFormValue("dest"))
	if status != 0 {
		s.mailError(w, r, c, status, msg)
		return
	}
	var done string
	for _, mb := range order {
		d, err := applyAction(r.Context(), c, op, mb, sel[mb], dest)
		if errors.Is(err, store.ErrOverQuota) {
			s.mailError(w, r, c, http.StatusInsufficientStorage, "Your mailbox is full.")
			return
		}
		if err != nil {
			s.log.Error("webmail: action", "op", op, "err", err)
			s.mailError(w, r, c, http.StatusServiceUnavailable, "The change could not be saved right now; try again in a moment.")
			return
		}
		if done == "" || d == "deleted" {
			done = d
		}
	}
	// A message that moved or went away cannot be shown again: go to its folder.
	back := backTo(r.PostFormValue("back"), "/mail/")
	if (op == "move" || op == "trash" || op == "delete") && strings.HasPrefix(back, "/mail/m/") {
		back = fmt.Sprintf("/mail/f/%d", order[0])
	}
	http.Redirect(w, r, withDone(back, done), http.StatusSeeOther)
}

// withDone adds the flash key to a back URL.
func withDone(back, done string) string {
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	// Replace an earlier flash key rather than piling them up.
	if i := strings.Index(back, "done="); i > 0 {
		back = strings.TrimRight(back[:i], "?&")
		if strings.Contains(back, "?") {
			sep = "&"
		} else {
			sep = "?"
		}
	}
	return back + sep + "done=" + done
}

// mailFolderAct creates, renames or deletes a folder. INBOX and special-use folders are
// protected (RFC 6154 roles other clients rely on); deleting moves the folder's messages
// to Trash first, and a folder with sub-folders must be emptied of them first.
func (s *Server) mailFolderAct(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	ctx := r.Context()
	back := backTo(r.PostFormValue("back"), "/mail/")
	name := strings.TrimSpace(r.PostFormValue("name"))
	var err error
	var done string
	switch r.PostFormValue("op") {
	case "create":
		if parent := r.PostFormValue("parent"); parent != "" {
			name = parent + store.MailboxSeparator + name
		}
		if err = store.ValidMailboxName(name); err == nil {
			_, err = c.st.CreateMailbox(ctx, c.ref, name, "")
		}
		done = "created"
	case "rename", "delete":
		mb, ok := c.box(r.PostFormValue("folder"))
		if !ok {
			s.mailError(w, r, c, http.StatusNotFound, "No such folder.")
			return
		}
		if store.IsInbox(mb.Name) || mb.SpecialUse != "" {
			s.mailError(w, r, c, http.StatusForbidden, "INBOX and the special folders (Drafts, Sent, Trash, Junk, Archive) cannot be renamed or deleted.")
			return
		}
		if r.PostFormValue("op") == "rename" {
			if err = store.ValidMailboxName(name); err == nil {
				err = c.st.RenameMailbox(ctx, c.ref, mb.Name, name)
			}
			done = "renamed"
		} else {
			err = s.deleteFolder(r, c, mb)
			done, back = "folder-deleted", "/mail/"
		}
	default:
		s.mailError(w, r, c, http.StatusBadRequest, "Unknown folder action.")
		return
	}
	switch {
	case err == nil:
		http.Redirect(w, r, withDone(back, done), http.StatusSeeOther)
	case errors.Is(err, store.ErrInvalid):
		s.mailError(w, r, c, http.StatusUnprocessableEntity, "That folder name is not allowed: "+strings.TrimSuffix(err.Error(), ": "+store.ErrInvalid.Error())+".")
	case errors.Is(err, store.ErrExists):
		s.mailError(w, r, c, http.StatusConflict, "A folder with that name exists already.")
	case errors.Is(err, store.ErrHasChildren):
		s.mailError(w, r, c, http.StatusConflict, "The folder has sub-folders: delete or move them first.")
	case errors.Is(err, store.ErrProtected):
		s.mailError(w, r, c, http.StatusForbidden, "That folder cannot be changed.")
	case errors.Is(err, store.ErrOverQuota):
		s.mailError(w, r, c, http.StatusInsufficientStorage, "Your mailbox is full.")
	case errors.Is(err, store.ErrNotFound):
		s.mailError(w, r, c, http.StatusNotFound, "No such folder.")
	default:
		s.log.Error("webmail: folder action", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The change could not be saved right now; try again in a moment.")
	}
}

// deleteFolder moves mb's messages to Trash, then deletes mb.
func (s *Server) deleteFolder(r *http.Request, c *mailCtx, mb store.Mailbox) error {
	ctx := r.Context()
	prefix := mb.Name + store.MailboxSeparator
	for _, b := range c.boxes {
		if strings.HasPrefix(b.Name, prefix) {
			return store.ErrHasChildren
		}
	}
	trash, hasTrash := c.special(store.Trash)
	if hasTrash {
		var uids []store.UID
		if err := c.st.Messages(ctx, c.ref, mb.ID, store.Query{NoMeta: true}, func(m store.Message) error {
			uids = append(uids, m.UID)
			return nil
		}); err != nil {
			return err
		}
		const batch = 1000
		for len(uids) > 0 {
			n := min(batch, len(uids))
			if _, err := c.st.Move(ctx, c.ref, mb.ID, uids[:n], trash.ID); err != nil {
				return err
			}
			uids = uids[n:]
		}
	}
	return c.st.DeleteMailbox(ctx, c.ref, mb.Name)
}

// quotaOf is the account's effective quota.
func quotaOf(c *mailCtx) store.Quota { return delivery.Quota(c.p.acct, c.p.dom) }
