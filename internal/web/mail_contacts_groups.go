package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"mailgrid/internal/contacts"
)

// contactsGroupOp runs a group form of /mail/contacts: "save-group" adds or edits a group
// (name, members one a line, note), "add-member" adds a contact's address to a group (the
// contact row's "Add to group"), "remove-member" removes one address. It returns the form
// to show again on a refusal, the flash key and the group to reopen.
func (s *Server) contactsGroupOp(r *http.Request, cs contacts.Store, b contacts.Book, op string) (*contactForm, string, int64, error) {
	ctx := r.Context()
	id, _ := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if op == "save-group" {
		f := contactForm{ID: id, Name: r.PostFormValue("name"), Emails: r.PostFormValue("members"), Note: r.PostFormValue("note"), Members: []string{}}
		g := contacts.Contact{ID: id, Kind: contacts.KindGroup, Name: f.Name, Members: contactLines(f.Emails), Note: f.Note}
		if id == 0 {
			nid, err := cs.Add(ctx, b, g)
			return &f, "group", nid, err
		}
		if err := isGroup(r, cs, b, id); err != nil {
			return &f, "", 0, err
		}
		return &f, "group", id, cs.Update(ctx, b, g)
	}
	g, err := cs.Get(ctx, b, id)
	if err == nil && !g.IsGroup() {
		err = contacts.ErrNotFound
	}
	if err != nil {
		return nil, "", 0, err
	}
	addr := strings.TrimSpace(r.PostFormValue("email"))
	if addr == "" {
		return nil, "", 0, fmt.Errorf("%w: the contact has no e-mail address to add", contacts.ErrInvalid)
	}
	saved := "member"
	if op == "add-member" {
		g.Members = append(g.Members, addr) // Normalize drops a duplicate
	} else {
		saved, g.Members = "removed", slicesDeleteFold(g.Members, addr)
	}
	return nil, saved, id, cs.Update(ctx, b, g)
}

// isGroup checks that id names a group of b (a contact is not edited through the group form).
func isGroup(r *http.Request, cs contacts.Store, b contacts.Book, id int64) error {
	g, err := cs.Get(r.Context(), b, id)
	if err == nil && !g.IsGroup() {
		err = contacts.ErrNotFound
	}
	return err
}

func slicesDeleteFold(list []string, v string) []string {
	out := list[:0:0]
	for _, x := range list {
		if !strings.EqualFold(x, v) {
			out = append(out, x)
		}
	}
	return out
}

// groupCompletion is a group as compose completion offers it: its value is the members'
// addresses, so the field holds the expanded list.
func groupCompletion(g contacts.Contact) completion {
	return completion{Name: g.Name, Value: strings.Join(g.Members, ", "), Group: true, Members: len(g.Members)}
}
