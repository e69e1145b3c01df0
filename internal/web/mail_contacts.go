package web

// The webmail's address books (package contacts): /mail/contacts lists a book (sorted by
// name or address, searchable) with an add/edit form, imports and exports vCard and CSV;
// /mail/contacts/complete answers compose's To/Cc/Bcc completion from both books as
// JSON; the message view's "add sender" posts here.
//
// Groups (distribution lists, contacts.KindGroup) live in the same books: the page lists
// them apart, edits their name and members (one address a line, or "Add to group" from a
// contact's row), and completion offers a group by its name, its value being its members'
// addresses, so the To/Cc/Bcc field holds them expanded (compose sends to each).
//
// Books: "personal" is the session's account's (contacts.Book{Domain, Account: ID});
// "group" is the domain's (Account 0), readable by every user of the domain and edited
// by its domain admins (or a system admin) and the accounts they permit
// (mail_contacts_editors.go). Every call names the session's own
// domain and account, so an ID from another book is "not found".

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"

	"mailgrid/internal/contacts"
)

//go:embed assets/mail_contacts.js
var contactsJSFS embed.FS

// maxContactsUpload bounds an import upload (the parsers bound the file itself).
const maxContactsUpload = 9 << 20

type contactsPage struct {
	mailPage
	Book     string // "personal" or "group"
	CanEdit  bool
	Admin    bool   // the group book's view for an admin of the domain: the editors form
	Editors  string // the permitted editors' addresses, one a line
	Sort, Q  string
	Contacts []contacts.Contact
	Groups   []contacts.Contact
	Edit     contactForm
	Group    contactForm // the group form: Emails holds the members, one a line
	Saved    string
}

type contactForm struct {
	ID                         int64
	Name, Emails, Phones, Note string
	Members                    []string // a group's, for the remove buttons
}

func (s *Server) mailContactsPages(a *mailAssets, page func(string, func(http.ResponseWriter, *http.Request, *mailCtx))) {
	t, err := a.t.Clone()
	if err == nil {
		_, err = t.ParseFS(assetFS, "assets/mail_contacts.html")
	}
	if err != nil {
		s.log.Error("webmail: contacts template", "err", err)
		return
	}
	page("GET /mail/contacts", func(w http.ResponseWriter, r *http.Request, c *mailCtx) {
		s.contactsList(w, r, c, t, http.StatusOK, "", nil)
	})
	page("POST /mail/contacts", func(w http.ResponseWriter, r *http.Request, c *mailCtx) { s.contactsPost(w, r, c, t) })
	page("GET /mail/contacts/export", s.contactsExport)
	page("GET /mail/contacts/complete", s.contactsComplete)
	js, err := fs.ReadFile(contactsJSFS, "assets/mail_contacts.js")
	if err != nil {
		s.log.Error("webmail: contacts script", "err", err)
		return
	}
	page("GET /mail/contacts.js", func(w http.ResponseWriter, r *http.Request, c *mailCtx) {
		s.serveAsset(w, "text/javascript; charset=utf-8", js)
	})
}

// book resolves a book name for c's account; ok is false for an unknown name.
func contactsBook(c *mailCtx, name string) (contacts.Book, bool) {
	switch name {
	case "", "personal":
		return contacts.Book{Domain: c.ref.Domain, Account: c.ref.ID}, true
	case "group":
		return contacts.Book{Domain: c.ref.Domain}, true
	}
	return contacts.Book{}, false
}

var contactsSaved = map[string]string{"saved": "Contact saved.", "deleted": "Contact deleted.", "imported": "Contacts imported.", "added": "Sender added to your address book.",
	"group": "Group saved.", "member": "Member added to the group.", "removed": "Member removed from the group.",
	"editors": "The group book's editors saved."}

func (s *Server) contactsList(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template, status int, errMsg string, form *contactForm) {
	cs := s.opt.Mail.Contacts
	if cs == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, "Address books are not available on this server right now; try again later.")
		return
	}
	q := r.URL.Query()
	name := q.Get("book")
	if r.Method == http.MethodPost {
		name = r.PostFormValue("book")
	}
	b, ok := contactsBook(c, name)
	if !ok {
		s.mailError(w, r, c, http.StatusNotFound, "No such address book.")
		return
	}
	canEdit, err := s.canEditBook(r.Context(), cs, c, b)
	if err != nil {
		s.log.Error("webmail: contacts editors", "account", c.p.acct.Address.String(), "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The address book is not available right now; try again in a moment.")
		return
	}
	d := contactsPage{mailPage: s.pageOf(r.Context(), c, "Contacts", 0), Book: "personal", CanEdit: canEdit, Sort: q.Get("sort"), Q: q.Get("q")}
	if b.Group() {
		d.Book = "group"
		if d.Admin = isBookAdmin(c, b.Domain); d.Admin {
			if r.Method == http.MethodPost && r.PostFormValue("op") == "editors" {
				d.Editors = r.PostFormValue("editors")
			} else if d.Editors, err = s.bookEditors(r.Context(), cs, b.Domain); err != nil {
				s.log.Error("webmail: contacts editors", "account", c.p.acct.Address.String(), "err", err)
				s.mailError(w, r, c, http.StatusServiceUnavailable, "The address book is not available right now; try again in a moment.")
				return
			}
		}
	}
	order := contacts.ByName
	if d.Sort == "email" {
		order = contacts.ByEmail
	} else {
		d.Sort = "name"
	}
	list, err := cs.List(r.Context(), b, contacts.Query{Search: d.Q, Order: order, Limit: 5000})
	if err != nil {
		s.log.Error("webmail: contacts list", "account", c.p.acct.Address.String(), "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The address book is not available right now; try again in a moment.")
		return
	}
	for _, ct := range list {
		if ct.IsGroup() {
			d.Groups = append(d.Groups, ct)
		} else {
			d.Contacts = append(d.Contacts, ct)
		}
	}
	switch {
	case form != nil && form.Members != nil:
		d.Group = *form
	case form != nil:
		d.Edit = *form
	default:
		if id, err := strconv.ParseInt(q.Get("edit"), 10, 64); err == nil {
			ct, err := cs.Get(r.Context(), b, id)
			switch {
			case err == nil && ct.IsGroup():
				d.Group = formOf(ct)
			case err == nil:
				d.Edit = formOf(ct)
			case !errors.Is(err, contacts.ErrNotFound):
				s.mailError(w, r, c, http.StatusServiceUnavailable, "The address book is not available right now; try again in a moment.")
				return
			}
		}
	}
	d.Back = "/mail/contacts?" + url.Values{"book": {d.Book}}.Encode()
	d.Error, d.Flash = errMsg, contactsSaved[q.Get("saved")]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "contacts", d); err != nil {
		s.log.Error("webmail: render", "template", "contacts", "err", err)
	}
}

func formOf(c contacts.Contact) contactForm {
	if c.IsGroup() {
		return contactForm{ID: c.ID, Name: c.Name, Emails: strings.Join(c.Members, "\n"), Note: c.Note, Members: nonNilStrings(c.Members)}
	}
	return contactForm{ID: c.ID, Name: c.Name, Emails: strings.Join(c.Emails, "\n"), Phones: strings.Join(c.Phones, "\n"), Note: c.Note}
}

// contactLines splits a textarea of addresses or phones on newlines and commas.
func contactLines(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' })
}

func (s *Server) contactsPost(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template) {
	cs := s.opt.Mail.Contacts
	if cs == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, "Address books are not available on this server right now; try again later.")
		return
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		r.Body = http.MaxBytesReader(w, r.Body, maxContactsUpload)
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			s.mailError(w, r, c, http.StatusBadRequest, "The upload is too large or malformed.")
			return
		}
		if err := composeCSRF(r, c.p); err != nil {
			s.mailError(w, r, c, http.StatusForbidden, "The form is stale or was not sent by this page (CSRF token); reload and try again.")
			return
		}
	}
	b, ok := contactsBook(c, r.PostFormValue("book"))
	if !ok {
		s.mailError(w, r, c, http.StatusNotFound, "No such address book.")
		return
	}
	if r.PostFormValue("op") == "editors" {
		s.contactsEditorsPost(w, r, c, t, cs, b)
		return
	}
	switch ok, err := s.canEditBook(r.Context(), cs, c, b); {
	case err != nil:
		s.log.Error("webmail: contacts editors", "account", c.p.acct.Address.String(), "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The address book is not available right now; nothing was changed. Try again in a moment.")
		return
	case !ok:
		s.mailError(w, r, c, http.StatusForbidden, "Only the domain's administrators and the accounts they permit edit the group address book.")
		return
	}
	var again int64 // a group to reopen after its change
	back := func(saved string) {
		v := url.Values{"saved": {saved}}
		if b.Group() {
			v.Set("book", "group")
		}
		if again != 0 {
			v.Set("edit", strconv.FormatInt(again, 10))
		}
		http.Redirect(w, r, "/mail/contacts?"+v.Encode(), http.StatusSeeOther)
	}
	ctx := r.Context()
	var err error
	var form *contactForm
	saved := ""
	switch op := r.PostFormValue("op"); op {
	case "save":
		f := contactForm{Name: r.PostFormValue("name"), Emails: r.PostFormValue("emails"), Phones: r.PostFormValue("phones"), Note: r.PostFormValue("note")}
		f.ID, _ = strconv.ParseInt(r.PostFormValue("id"), 10, 64)
		ct := contacts.Contact{ID: f.ID, Name: f.Name, Emails: contactLines(f.Emails), Phones: contactLines(f.Phones), Note: f.Note}
		if f.ID == 0 {
			_, err = cs.Add(ctx, b, ct)
		} else {
			err = cs.Update(ctx, b, ct)
		}
		form, saved = &f, "saved"
	case "delete":
		id, _ := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
		err, saved = cs.Delete(ctx, b, id), "deleted"
	case "save-group", "add-member", "remove-member":
		form, saved, again, err = s.contactsGroupOp(r, cs, b, op)
	case "add-sender":
		// The message view posts its From line as shown (decoded "Name <addr>").
		a, perr := mail.ParseAddress(r.PostFormValue("from"))
		if perr != nil {
			err = fmt.Errorf("%w: the sender's address does not parse", contacts.ErrInvalid)
			break
		}
		_, err = cs.Add(ctx, b, contacts.Contact{Name: a.Name, Emails: []string{a.Address}})
		saved = "added"
	case "import":
		err, saved = s.contactsImport(r, cs, b), "imported"
	default:
		s.mailError(w, r, c, http.StatusBadRequest, "Unknown action.")
		return
	}
	var ie *contacts.ImportError
	switch {
	case err == nil:
		back(saved)
	case errors.Is(err, contacts.ErrNotFound):
		s.mailError(w, r, c, http.StatusNotFound, "No such contact.")
	case errors.Is(err, contacts.ErrInvalid), errors.As(err, &ie), errors.Is(err, errBadImport):
		s.contactsList(w, r, c, t, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "contacts: "), form)
	default:
		s.log.Error("webmail: contacts", "account", c.p.acct.Address.String(), "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The address book is not available right now; nothing was changed. Try again in a moment.")
	}
}

var errBadImport = errors.New("choose a .vcf (vCard) or .csv file to import")

// contactsImport parses the uploaded file (by its name or the chosen format) and imports
// it all or nothing.
func (s *Server) contactsImport(r *http.Request, cs contacts.Store, b contacts.Book) error {
	f, fh, err := r.FormFile("file")
	if err != nil {
		return errBadImport
	}
	defer f.Close() //nolint:errcheck // a multipart part: nothing to report
	format := r.PostFormValue("format")
	if format == "" {
		lower := strings.ToLower(fh.Filename)
		switch {
		case strings.HasSuffix(lower, ".vcf") || strings.HasSuffix(lower, ".vcard"):
			format = "vcf"
		case strings.HasSuffix(lower, ".csv"):
			format = "csv"
		}
	}
	var list []contacts.Contact
	switch format {
	case "vcf":
		list, err = contacts.ParseVCard(f)
	case "csv":
		list, err = contacts.ParseCSV(f)
	default:
		return errBadImport
	}
	if err != nil {
		var ie *contacts.ImportError
		if errors.As(err, &ie) {
			return err
		}
		return errors.Join(errBadImport, err)
	}
	return cs.Import(r.Context(), b, list)
}

func (s *Server) contactsExport(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	cs := s.opt.Mail.Contacts
	b, ok := contactsBook(c, r.URL.Query().Get("book"))
	if cs == nil || !ok {
		s.mailError(w, r, c, http.StatusNotFound, "No such address book.")
		return
	}
	list, err := cs.List(r.Context(), b, contacts.Query{})
	if err != nil {
		s.log.Error("webmail: contacts export", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The address book is not available right now; try again in a moment.")
		return
	}
	var buf bytes.Buffer
	ctype, name := "text/vcard; charset=utf-8", "contacts.vcf"
	if r.URL.Query().Get("format") == "csv" {
		ctype, name = "text/csv; charset=utf-8", "contacts.csv"
		err = contacts.WriteCSV(&buf, list)
	} else {
		err = contacts.WriteVCard(&buf, list)
	}
	if err != nil {
		s.log.Error("webmail: contacts export", "err", err)
		s.mailError(w, r, c, http.StatusInternalServerError, "The export failed.")
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "sandbox")
	if _, err := w.Write(buf.Bytes()); err != nil {
		s.log.Debug("webmail: contacts export write", "err", err)
	}
}

// completion is one answer of /mail/contacts/complete.
type completion struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	// Value is what compose puts in the field: "Name <email>" (RFC 5322 3.4 name-addr,
	// the name quoted when needed) or the bare address; for a group, its members'
	// addresses separated by commas.
	Value   string `json:"value"`
	Group   bool   `json:"group,omitempty"`
	Members int    `json:"members,omitempty"` // a group's member count
}

// contactsComplete answers GET /mail/contacts/complete?q=: up to 10 addresses from the
// personal then the group book whose name or address contains q. A GET changes nothing,
// so it needs no CSRF token; the session cookie authenticates it.
func (s *Server) contactsComplete(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	out := []completion{}
	status := http.StatusOK
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if cs := s.opt.Mail.Contacts; cs != nil && q != "" && len(q) <= 200 {
		seen := map[string]bool{}
		for _, name := range []string{"personal", "group"} {
			b, _ := contactsBook(c, name)
			list, err := cs.List(r.Context(), b, contacts.Query{Search: q, Limit: 10})
			if err != nil {
				s.log.Error("webmail: contacts complete", "err", err)
				status, out = http.StatusServiceUnavailable, []completion{}
				break
			}
			for _, ct := range list {
				if ct.IsGroup() {
					if len(out) < 10 && len(ct.Members) > 0 {
						out = append(out, groupCompletion(ct))
					}
					continue
				}
				for _, e := range ct.Emails {
					if len(out) == 10 || seen[strings.ToLower(e)] {
						continue
					}
					seen[strings.ToLower(e)] = true
					v := e
					if ct.Name != "" {
						v = (&mail.Address{Name: ct.Name, Address: e}).String()
					}
					out = append(out, completion{Name: ct.Name, Email: e, Value: v})
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(out); err != nil {
		s.log.Debug("webmail: contacts complete write", "err", err)
	}
}
