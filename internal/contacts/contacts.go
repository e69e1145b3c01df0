// Package contacts is the address books of the webmail: a personal book per account and a
// group (domain-wide) book per domain, and their exchange formats, vCard (RFC 6350) and
// CSV.
//
// Model:
//   - A Book is named by its tenant (domain) and owner: Owner.Account is the account's
//     directory ID for a personal book, 0 for the domain's group book. Every Store call
//     names the book, and a contact ID is found only in the book that holds it: another
//     tenant's (or account's) IDs are ErrNotFound, never someone else's row.
//   - Who may read or edit a book is the caller's decision (the webmail lets the domain's
//     users read the group book and its domain admins edit it); the store only isolates.
//     The one per-domain setting it keeps is the group book's permitted editors
//     (Store.Editors): the accounts, by directory ID, a domain admin let edit the group
//     book besides the admins; the caller checks the IDs are the domain's.
//   - A Contact is a name, ordered e-mail addresses and phone numbers and a note. The first
//     address is the one lists sort by ("email" order) and compose completes to.
//   - A group (distribution list, vCard KIND:group, RFC 6350 6.1.4) is a Contact of Kind
//     KindGroup: a name, a note and its Members, the e-mail addresses compose expands it
//     to. Members are addresses, not references to contacts, so a group survives the
//     deletion or edit of a contact and exports as MEMBER:mailto: URIs (6.6.5).
//   - Import is all or nothing: the formats' parsers refuse a file with any bad record,
//     naming its line, and Store.Import adds a batch in one transaction.
//
// Drivers: contacts/sqlite (embedded, DATA/contacts) and contacts/postgres (the cluster's
// directory database); both pass the conformance suite in contacts/contactstest, and both
// run the statements of contacts/sqlstore (written once over internal/sqlkit), keeping the
// schema, the list encoding, Import and SetEditors to themselves.
package contacts

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNotFound is a contact that is not in the named book.
var ErrNotFound = errors.New("contacts: not found")

// ErrInvalid wraps a contact refused by Validate.
var ErrInvalid = errors.New("contacts: invalid contact")

// Limits on a contact, enforced by Validate.
const (
	MaxName    = 200
	MaxNote    = 4000
	MaxEmails  = 20
	MaxPhones  = 20
	MaxImport  = 10000 // contacts in one import
	MaxMembers = 1000  // addresses in one group
	MaxEditors = 100   // permitted editors of one domain's group book
)

// Kind is an individual or a group (RFC 6350 6.1.4 KIND).
type Kind int

const (
	KindIndividual Kind = iota
	KindGroup
)

// Book names an address book.
type Book struct {
	Domain  string // the tenant, ASCII lower case
	Account int64  // the owner's directory.Account.ID; 0 is the domain's group book
}

// Group reports whether b is the domain's group book.
func (b Book) Group() bool { return b.Account == 0 }

// Contact is one entry of a book.
type Contact struct {
	ID      int64 // assigned by the store, unique per store
	Name    string
	Emails  []string // addr-spec, without display names
	Phones  []string
	Note    string
	Kind    Kind
	Members []string  // a group's member addresses (addr-spec); empty for an individual
	Updated time.Time // set by the store on every write
}

// IsGroup reports whether c is a group.
func (c Contact) IsGroup() bool { return c.Kind == KindGroup }

// Email is the contact's first address, or "".
func (c Contact) Email() string {
	if len(c.Emails) == 0 {
		return ""
	}
	return c.Emails[0]
}

// Order is a list order.
type Order int

const (
	ByName  Order = iota // name, then first address (case-insensitive)
	ByEmail              // first address, then name
)

// KindFilter selects individuals, groups or both.
type KindFilter int

const (
	AllKinds KindFilter = iota
	OnlyIndividuals
	OnlyGroups
)

// Query selects contacts of a book.
type Query struct {
	Kinds KindFilter
	// Search, when not empty, keeps contacts whose name or any address contains it
	// (case-insensitive).
	Search string
	Order  Order
	Limit  int // 0: no limit
}

// Store holds address books. Implementations are safe for concurrent use; a method that
// returns nil has made its change durable.
type Store interface {
	// List returns the contacts of b that q selects, in q's order.
	List(ctx context.Context, b Book, q Query) ([]Contact, error)
	// Get returns one contact of b.
	Get(ctx context.Context, b Book, id int64) (Contact, error)
	// Add validates c and adds it to b, returning its ID.
	Add(ctx context.Context, b Book, c Contact) (int64, error)
	// Update replaces the contact c.ID of b.
	Update(ctx context.Context, b Book, c Contact) error
	// Delete removes a contact of b.
	Delete(ctx context.Context, b Book, id int64) error
	// Import adds cs to b in one transaction: all or, on any error, none.
	Import(ctx context.Context, b Book, cs []Contact) error
	// Editors returns the permitted editors of domain's group book (account IDs,
	// ascending; nil when none).
	Editors(ctx context.Context, domain string) ([]int64, error)
	// SetEditors replaces them (ErrInvalid: more than MaxEditors or an ID <= 0).
	SetEditors(ctx context.Context, domain string, ids []int64) error
	// DeleteAccount removes what the store keeps for one account of domain: its personal
	// book and its place among the group book's editors, in one transaction (account
	// deletion; the directory never reuses an ID, so these rows are garbage). An account
	// with nothing here is no error; account <= 0 is ErrInvalid (the group book goes
	// only with its domain).
	DeleteAccount(ctx context.Context, domain string, account int64) error
	// DeleteDomain removes every book of domain, the group book included, and its
	// editors, in one transaction (domain purge); "" is ErrInvalid.
	DeleteDomain(ctx context.Context, domain string) error
	Close() error
}

// CheckDeleteAccount validates DeleteAccount's arguments (for drivers).
func CheckDeleteAccount(domain string, account int64) error {
	if domain == "" || account <= 0 {
		return fmt.Errorf("%w: delete account %q #%d: want a domain and an account ID", ErrInvalid, domain, account)
	}
	return nil
}

// Normalize trims c's fields, drops empty addresses and phones and lower-cases the
// domain part of addresses; Validate expects a normalized contact.
func Normalize(c Contact) Contact {
	c.Name = strings.TrimSpace(c.Name)
	c.Note = strings.TrimSpace(c.Note)
	es := normAddrs(c.Emails)
	if c.IsGroup() {
		// Members are a set: the first of duplicates (compared case-insensitively) stays.
		seen := map[string]bool{}
		var ms []string
		for _, m := range normAddrs(c.Members) {
			if k := strings.ToLower(m); !seen[k] {
				seen[k] = true
				ms = append(ms, m)
			}
		}
		c.Members = ms
	} else {
		c.Members = nil
	}
	var ps []string
	for _, p := range c.Phones {
		if p = strings.TrimSpace(p); p != "" {
			ps = append(ps, p)
		}
	}
	c.Emails, c.Phones = es, ps
	return c
}

// normAddrs trims addresses, drops empty ones and lower-cases their domain part.
func normAddrs(in []string) []string {
	var es []string
	for _, e := range in {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if at := strings.LastIndexByte(e, '@'); at > 0 {
			e = e[:at] + strings.ToLower(e[at:])
		}
		es = append(es, e)
	}
	return es
}

// validAddr reports whether e is a bare RFC 5322 3.4.1 addr-spec.
func validAddr(e string) bool {
	a, err := mail.ParseAddress(e)
	return err == nil && a.Address == e && a.Name == "" && len(e) <= 254
}

// Validate checks a normalized contact: a name or an address, addresses that parse as
// RFC 5322 3.4.1 addr-specs, no control characters, bounded sizes.
func Validate(c Contact) error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(f, a...)) }
	if c.Kind != KindIndividual && c.Kind != KindGroup {
		return bad("unknown kind")
	}
	if c.IsGroup() {
		if c.Name == "" {
			return bad("a group needs a name")
		}
		if len(c.Emails) > 0 || len(c.Phones) > 0 {
			return bad("a group has members, not addresses or phones of its own")
		}
		if len(c.Members) > MaxMembers {
			return bad("more than %d members", MaxMembers)
		}
		for _, m := range c.Members {
			if !validAddr(m) {
				return bad("not an e-mail address: %q", m)
			}
		}
	}
	if c.Name == "" && len(c.Emails) == 0 {
		return bad("a name or an e-mail address is required")
	}
	if len(c.Name) > MaxName || len(c.Note) > MaxNote {
		return bad("name or note too long")
	}
	if len(c.Emails) > MaxEmails || len(c.Phones) > MaxPhones {
		return bad("too many addresses or phone numbers")
	}
	if !clean(c.Name, false) || !clean(c.Note, true) {
		return bad("control characters in name or note")
	}
	for _, e := range c.Emails {
		if !validAddr(e) {
			return bad("not an e-mail address: %q", e)
		}
	}
	for _, p := range c.Phones {
		if len(p) > 40 || !clean(p, false) {
			return bad("not a phone number: %q", p)
		}
	}
	return nil
}

// clean: valid UTF-8 without control characters (newlines and tabs allowed when multi).
func clean(s string, multi bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			if multi && (r == '\n' || r == '\t' || r == '\r') {
				continue
			}
			return false
		}
	}
	return true
}

// Prepare normalizes and validates c, the drivers' first step of a write.
func Prepare(c Contact) (Contact, error) {
	c = Normalize(c)
	return c, Validate(c)
}

// SearchKey is the lower-cased text Query.Search matches: the name and every address (a
// group's: its name only, so completion offers the group by its name).
func SearchKey(c Contact) string {
	if c.IsGroup() {
		return strings.ToLower(c.Name)
	}
	return strings.ToLower(c.Name + "\n" + strings.Join(c.Emails, "\n"))
}

// SortKeys are the keys of the two orders, lower-cased.
func SortKeys(c Contact) (name, email string) {
	return strings.ToLower(c.Name), strings.ToLower(c.Email())
}

// LikePattern turns a search into a LIKE pattern with '\' as the escape character.
func LikePattern(search string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(search)) + "%"
}

// NormEditors checks and sorts a permitted-editor list for the drivers, dropping
// duplicates.
func NormEditors(ids []int64) ([]int64, error) {
	out := slices.Clone(ids)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxEditors {
		return nil, fmt.Errorf("%w: more than %d editors", ErrInvalid, MaxEditors)
	}
	for _, id := range out {
		if id <= 0 {
			return nil, fmt.Errorf("%w: editor account ID %d", ErrInvalid, id)
		}
	}
	return out, nil
}
