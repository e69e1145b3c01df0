package contacts

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-vcard"
)

// LineError is one refused record of an import file.
type LineError struct {
	Line int // 1-based line of the record's start (for vCard: the BEGIN line)
	Err  error
}

// ImportError lists every refused record of a file; nothing of the file is imported.
type ImportError struct {
	Lines []LineError
}

func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "contacts: %d bad record(s), nothing imported", len(e.Lines))
	for i, l := range e.Lines {
		if i == 10 {
			fmt.Fprintf(&b, "; ...")
			break
		}
		fmt.Fprintf(&b, "; line %d: %v", l.Line, l.Err)
	}
	return b.String()
}

// maxImportBytes bounds an import file.
const maxImportBytes = 8 << 20

func readAll(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxImportBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxImportBytes {
		return nil, fmt.Errorf("contacts: import file larger than %d bytes", maxImportBytes)
	}
	return b, nil
}

// ParseVCard reads a vCard file (RFC 6350; versions 3.0 and 4.0 as written by common
// clients): every card becomes a contact from FN (or N when FN is missing, RFC 6350
// 6.2.1-6.2.2), EMAIL (6.4.2), TEL (6.4.1) and NOTE (6.7.2). A card with KIND:group
// (6.1.4; or Apple's X-ADDRESSBOOKSERVER-KIND:group) becomes a group whose MEMBER URIs
// (6.6.5) are "mailto:" addresses or the UID (6.7.6) of another card of the file, which
// stands for that card's first address. Any card that does not parse or validate, or a
// member that names no address, refuses the file with an *ImportError naming its BEGIN
// line.
func ParseVCard(r io.Reader) ([]Contact, error) {
	b, err := readAll(r)
	if err != nil {
		return nil, err
	}
	starts := beginLines(b)
	dec := vcard.NewDecoder(bytes.NewReader(b))
	var cards []vcard.Card
	var ie ImportError
	for i := 0; ; i++ {
		card, err := dec.Decode()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The decoder cannot resynchronise: report and stop.
			ie.Lines = append(ie.Lines, LineError{Line: lineOf(starts, i), Err: err})
			return nil, &ie
		}
		cards = append(cards, card)
		if len(cards) > MaxImport {
			return nil, fmt.Errorf("contacts: more than %d contacts in one import", MaxImport)
		}
	}
	uids := map[string]string{} // UID -> first address, of the individuals
	for _, card := range cards {
		if uid := card.Value(vcard.FieldUID); uid != "" && !isGroupCard(card) {
			if es := card.Values(vcard.FieldEmail); len(es) > 0 {
				uids[uid] = strings.TrimSpace(es[0])
			}
		}
	}
	var out []Contact
	for i, card := range cards {
		c, err := fromCard(card, uids)
		if err == nil {
			c, err = Prepare(c)
		}
		if err != nil {
			ie.Lines = append(ie.Lines, LineError{Line: lineOf(starts, i), Err: err})
			continue
		}
		out = append(out, c)
	}
	if len(ie.Lines) > 0 {
		return nil, &ie
	}
	return out, nil
}

func lineOf(starts []int, i int) int {
	if i < len(starts) {
		return starts[i]
	}
	return 0
}

// isGroupCard: KIND:group (RFC 6350 6.1.4), or Apple's vCard 3.0 extension.
func isGroupCard(card vcard.Card) bool {
	return card.Kind() == vcard.KindGroup || strings.EqualFold(card.Value("X-ADDRESSBOOKSERVER-KIND"), "group")
}

// member resolves a MEMBER URI (RFC 6350 6.6.5) to an address.
func member(uri string, uids map[string]string) (string, error) {
	uri = strings.TrimSpace(uri)
	if len(uri) > 7 && strings.EqualFold(uri[:7], "mailto:") {
		addr, _, _ := strings.Cut(uri[7:], "?") // RFC 6068: hfields are not ours
		if a, err := url.PathUnescape(addr); err == nil {
			addr = a
		}
		return addr, nil
	}
	if a, ok := uids[uri]; ok {
		return a, nil
	}
	return "", fmt.Errorf("%w: group member %q is neither a mailto: address nor the UID of a card with an address in this file", ErrInvalid, clip(uri))
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// beginLines returns the 1-based line numbers of the file's BEGIN:VCARD lines.
func beginLines(b []byte) []int {
	var ls []int
	for i, l := range bytes.Split(b, []byte("\n")) {
		if bytes.EqualFold(bytes.TrimSpace(l), []byte("BEGIN:VCARD")) {
			ls = append(ls, i+1)
		}
	}
	return ls
}

func fromCard(card vcard.Card, uids map[string]string) (Contact, error) {
	c := Contact{Name: card.PreferredValue(vcard.FieldFormattedName)}
	if c.Name == "" {
		if n := card.Name(); n != nil {
			c.Name = strings.TrimSpace(strings.Join([]string{n.HonorificPrefix, n.GivenName, n.AdditionalName, n.FamilyName, n.HonorificSuffix}, " "))
			c.Name = strings.Join(strings.Fields(c.Name), " ")
		}
	}
	c.Emails = card.Values(vcard.FieldEmail)
	for _, t := range card.Values(vcard.FieldTelephone) {
		c.Phones = append(c.Phones, strings.TrimPrefix(t, "tel:"))
	}
	c.Note = strings.Join(card.Values(vcard.FieldNote), "\n")
	if isGroupCard(card) {
		c.Kind, c.Emails, c.Phones = KindGroup, nil, nil
		for _, m := range append(card.Values(vcard.FieldMember), card.Values("X-ADDRESSBOOKSERVER-MEMBER")...) {
			a, err := member(m, uids)
			if err != nil {
				return c, err
			}
			c.Members = append(c.Members, a)
		}
	}
	return c, nil
}

// WriteVCard writes cs as vCard 4.0 (RFC 6350): VERSION, FN, EMAIL, TEL and NOTE per
// card, and for a group KIND:group (6.1.4) and one MEMBER:mailto: URI per member (6.6.5);
// CRLF line endings, lines folded at 75 octets (3.2; the encoder does not fold).
func WriteVCard(w io.Writer, cs []Contact) error {
	var buf bytes.Buffer
	enc := vcard.NewEncoder(&buf)
	for _, c := range cs {
		card := vcard.Card{}
		card.SetValue(vcard.FieldVersion, "4.0")
		card.SetValue(vcard.FieldFormattedName, c.Name) // FN is required (6.2.1)
		if c.IsGroup() {
			card.SetKind(vcard.KindGroup)
			for _, m := range c.Members {
				card.AddValue(vcard.FieldMember, "mailto:"+m)
			}
		}
		for _, e := range c.Emails {
			card.AddValue(vcard.FieldEmail, e)
		}
		for _, p := range c.Phones {
			card.AddValue(vcard.FieldTelephone, p)
		}
		if c.Note != "" {
			card.SetValue(vcard.FieldNote, c.Note)
		}
		buf.Reset()
		if err := enc.Encode(card); err != nil {
			return err
		}
		if _, err := w.Write(fold(buf.Bytes())); err != nil {
			return err
		}
	}
	return nil
}

// fold splits content lines longer than 75 octets, never inside a UTF-8 sequence, with
// CRLF and one space (RFC 6350 3.2).
func fold(b []byte) []byte {
	var out []byte
	for line := range bytes.SplitAfterSeq(b, []byte("\r\n")) {
		body := bytes.TrimSuffix(line, []byte("\r\n"))
		limit := 75
		for len(body) > limit {
			cut := limit
			for cut > 0 && !utf8.RuneStart(body[cut]) {
				cut--
			}
			out = append(out, body[:cut]...)
			out = append(out, "\r\n "...)
			body = body[cut:]
			limit = 74 // the leading space counts
		}
		out = append(out, body...)
		if len(body) != len(line) {
			out = append(out, "\r\n"...)
		}
	}
	return out
}

// CSV columns written by WriteCSV; ParseCSV also accepts common variants (see csvColumn).
var csvHeader = []string{"Name", "Email", "Phone", "Note"}

// csvSep joins several addresses or phones in one CSV cell.
const csvSep = "; "

// csvColumn maps a header cell to a field: name, first, last, email, phone, note or "".
func csvColumn(h string) string {
	h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
	h = strings.NewReplacer("-", "", "_", "", " ", "").Replace(h)
	switch {
	case h == "name" || h == "fullname" || h == "displayname":
		return "name"
	case h == "firstname" || h == "givenname":
		return "first"
	case h == "lastname" || h == "familyname" || h == "surname":
		return "last"
	case strings.HasPrefix(h, "email"):
		return "email"
	case strings.HasPrefix(h, "phone") || strings.HasPrefix(h, "mobile") || strings.HasPrefix(h, "tel"):
		return "phone"
	case h == "note" || h == "notes":
		return "note"
	}
	return ""
}

// ParseCSV reads a CSV file (RFC 4180) whose first record is a header naming the columns
// (Name, Email, Phone, Note; also First/Last Name, E-mail 2, Mobile, Notes; other columns
// are ignored). A cell may hold several addresses or phones separated by ';'. Every bad
// record (unparsable, or a contact Validate refuses) is reported with its line in an
// *ImportError, and then nothing is returned.
func ParseCSV(r io.Reader) ([]Contact, error) {
	b, err := readAll(r)
	if err != nil {
		return nil, err
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, &ImportError{Lines: []LineError{{Line: 1, Err: fmt.Errorf("no header: %w", err)}}}
	}
	cols := make([]string, len(head))
	known := false
	for i, h := range head {
		cols[i] = csvColumn(h)
		known = known || cols[i] == "name" || cols[i] == "email"
	}
	if !known {
		return nil, &ImportError{Lines: []LineError{{Line: 1, Err: errors.New("the header names no Name or Email column")}}}
	}
	var out []Contact
	var ie ImportError
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			line := 0
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			ie.Lines = append(ie.Lines, LineError{Line: line, Err: err})
			break // the reader cannot resynchronise after a quote error
		}
		line, _ := cr.FieldPos(0)
		c, err := Prepare(fromRecord(cols, rec))
		if err != nil {
			ie.Lines = append(ie.Lines, LineError{Line: line, Err: err})
			continue
		}
		out = append(out, c)
		if len(out) > MaxImport {
			return nil, fmt.Errorf("contacts: more than %d contacts in one import", MaxImport)
		}
	}
	if len(ie.Lines) > 0 {
		return nil, &ie
	}
	return out, nil
}

// formula reports whether a spreadsheet would run a cell as a formula (CSV injection):
// it starts with '=', '@', a tab or CR, or '+' / '-' not followed by a digit, space or
// '(' (so phone numbers such as "+1 555" stay as they are).
func formula(v string) bool {
	if v == "" {
		return false
	}
	switch v[0] {
	case '=', '@', '\t', '\r':
		return true
	case '+', '-':
		return len(v) > 1 && !strings.ContainsRune("0123456789 (", rune(v[1]))
	}
	return false
}

// defuse prefixes a formula cell with an apostrophe, which spreadsheets show as text;
// ParseCSV removes it again, so an export imports unchanged.
func defuse(v string) string {
	if formula(v) {
		return "'" + v
	}
	return v
}

func fromRecord(cols, rec []string) Contact {
	var c Contact
	var first, last string
	for i, v := range rec {
		if i >= len(cols) {
			break
		}
		if strings.HasPrefix(v, "'") && formula(v[1:]) {
			v = v[1:]
		}
		switch cols[i] {
		case "name":
			c.Name = v
		case "first":
			first = strings.TrimSpace(v)
		case "last":
			last = strings.TrimSpace(v)
		case "email":
			c.Emails = append(c.Emails, strings.Split(v, ";")...)
		case "phone":
			c.Phones = append(c.Phones, strings.Split(v, ";")...)
		case "note":
			c.Note = v
		}
	}
	if strings.TrimSpace(c.Name) == "" {
		c.Name = strings.TrimSpace(first + " " + last)
	}
	return c
}

// WriteCSV writes cs with the header Name, Email, Phone, Note; several addresses or
// phones share a cell, separated by "; ". Groups have no CSV form: they are left out
// (vCard carries them).
func WriteCSV(w io.Writer, cs []Contact) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, c := range cs {
		if c.IsGroup() {
			continue
		}
		rec := []string{c.Name, strings.Join(c.Emails, csvSep), strings.Join(c.Phones, csvSep), c.Note}
		for i := range rec {
			rec[i] = defuse(rec[i])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
