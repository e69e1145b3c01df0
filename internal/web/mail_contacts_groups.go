package web

import (
	"context"
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

// expandGroups replaces, in compose's To, Cc and Bcc, every entry that is the name of a
// group of the account's personal or domain book (compared case-insensitively; an entry
// with an "@" is an address, never a group) by the group's members, so a typed group name
// is sent to each member. Entries are split at commas and semicolons outside quotes and
// angle brackets (RFC 5322 3.4). A book that cannot be read leaves the fields as they are
// (the address parser then refuses the unknown name).
func (s *Server) expandGroups(ctx context.Context, c *mailCtx, v *composeView) {
	cs := s.opt.Mail.Contacts
	if cs == nil || c == nil || c.p == nil {
		return
	}
	var groups map[string][]string // lower-cased name -> members, read once when needed
	lookup := func(name string) ([]string, bool) {
		if groups == nil {
			groups = map[string][]string{}
			for _, book := range []string{"group", "personal"} { // personal wins a name clash
				b, _ := contactsBook(c, book)
				list, err := cs.List(ctx, b, contacts.Query{Kinds: contacts.OnlyGroups, Limit: 1000})
				if err != nil {
					s.log.Warn("webmail: compose groups", "account", c.p.acct.Address.String(), "err", err)
					return nil, false
				}
				for _, g := range list {
					groups[strings.ToLower(g.Name)] = g.Members
				}
			}
		}
		m, ok := groups[strings.ToLower(name)]
		return m, ok && len(m) > 0
	}
	for _, f := range []*string{&v.To, &v.Cc, &v.Bcc} {
		*f = expandField(*f, lookup)
	}
}

// expandField rewrites one address field with lookup (see expandGroups).
func expandField(field string, lookup func(string) ([]string, bool)) string {
	if strings.TrimSpace(field) == "" {
		return field
	}
	var out []string
	changed := false
	for _, e := range splitEntries(field) {
		t := strings.TrimSpace(e)
		if t != "" && !strings.Contains(t, "@") {
			name := t
			if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' { // a quoted name (RFC 5322 3.2.4)
				name = strings.ReplaceAll(name[1:len(name)-1], `\"`, `"`)
			}
			if m, ok := lookup(name); ok {
				out, changed = append(out, m...), true
				continue
			}
		}
		if t != "" {
			out = append(out, t)
		}
	}
	if !changed {
		return field
	}
	return strings.Join(out, ", ")
}

// splitEntries splits an address field at commas and semicolons outside quoted strings
// and angle brackets.
func splitEntries(s string) []string {
	var out []string
	quoted, angle, esc, start := false, 0, false, 0
	for i, r := range s {
		switch {
		case esc:
			esc = false
		case r == '\\' && quoted:
			esc = true
		case r == '"':
			quoted = !quoted
		case r == '<' && !quoted:
			angle++
		case r == '>' && !quoted && angle > 0:
			angle--
		case (r == ',' || r == ';') && !quoted && angle == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
