package web

// The group address book's permitted editors. The domain's admins (and system admins)
// always edit the domain's group book; they may also name accounts of the domain that
// edit it too (contacts.Store.Editors, by directory account ID, so a deleted account's
// address re-created later does not inherit the right). Only an admin of the session's
// domain sees and posts the form ("editors", one address a line); every address must be
// an existing account of that domain, else the whole list is refused and nothing changes.

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"mailgrid/internal/contacts"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// isBookAdmin reports whether c's account administers domain (a system admin, or a
// domain admin of it).
func isBookAdmin(c *mailCtx, domain string) bool {
	a := c.p.acct
	return a.Role == directory.RoleSystemAdmin || a.Role == directory.RoleDomainAdmin && slices.Contains(a.AdminDomains, domain)
}

// canEditBook: the personal book always; the group book for the domain's admins and
// the accounts they permitted.
func (s *Server) canEditBook(ctx context.Context, cs contacts.Store, c *mailCtx, b contacts.Book) (bool, error) {
	if !b.Group() || isBookAdmin(c, b.Domain) {
		return true, nil
	}
	ids, err := cs.Editors(ctx, b.Domain)
	if err != nil {
		return false, err
	}
	return slices.Contains(ids, c.ref.ID), nil
}

// bookEditors is the addresses of the permitted editors, one a line (accounts deleted
// since are left out).
func (s *Server) bookEditors(ctx context.Context, cs contacts.Store, domain string) (string, error) {
	ids, err := cs.Editors(ctx, domain)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, id := range ids {
		a, err := s.dir.AccountByID(ctx, domain, id)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			continue
		case err != nil:
			return "", err
		}
		lines = append(lines, a.Address.String())
	}
	return strings.Join(lines, "\n"), nil
}

// errBadEditor is an editor address the form names that is not an account of the domain.
var errBadEditor = errors.New("not an account of your domain")

// editorIDs resolves the form's addresses to account IDs of domain.
func (s *Server) editorIDs(ctx context.Context, domain, text string) ([]int64, error) {
	lines := strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' || r == '\t' })
	if len(lines) > contacts.MaxEditors {
		return nil, fmt.Errorf("%w: at most %d editors", errBadEditor, contacts.MaxEditors)
	}
	var ids []int64
	for _, l := range lines {
		addr, err := mail.Parse(l)
		if err != nil || !strings.EqualFold(addr.Domain, domain) {
			return nil, fmt.Errorf("%w: %q", errBadEditor, l)
		}
		a, err := s.dir.Account(ctx, addr)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			return nil, fmt.Errorf("%w: %q", errBadEditor, l)
		case err != nil:
			return nil, err
		}
		ids = append(ids, a.ID)
	}
	return ids, nil
}

// contactsEditorsPost sets the group book's permitted editors: the domain's admins
// only (403 for anyone else), every address an account of the domain (400 otherwise,
// nothing changed), a store or directory fault 503.
func (s *Server) contactsEditorsPost(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template, cs contacts.Store, b contacts.Book) {
	if !b.Group() || !isBookAdmin(c, b.Domain) {
		s.mailError(w, r, c, http.StatusForbidden, c.ui.T("Only the domain's administrators choose who edits the group address book."))
		return
	}
	ctx := r.Context()
	ids, err := s.editorIDs(ctx, b.Domain, r.PostFormValue("editors"))
	if err == nil {
		err = cs.SetEditors(ctx, b.Domain, ids)
	}
	switch {
	case err == nil:
		http.Redirect(w, r, "/mail/contacts?book=group&saved=editors", http.StatusSeeOther)
	case errors.Is(err, errBadEditor):
		s.contactsList(w, r, c, t, http.StatusBadRequest, c.ui.Tf("Not saved: %s.", err.Error()), nil)
	case errors.Is(err, contacts.ErrInvalid):
		s.contactsList(w, r, c, t, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "contacts: "), nil)
	default:
		s.log.Error("webmail: contacts editors", "account", c.p.acct.Address.String(), "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("The address book is not available right now; nothing was changed. Try again in a moment."))
	}
}
