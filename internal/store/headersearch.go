package store

import (
	"context"
	"encoding/json"
	"strings"
)

// Header search (IMAP SEARCH FROM, TO, CC, BCC and SUBJECT, RFC 9051 6.4.4) from text the
// drivers keep beside each message, so a header SEARCH reads neither the message rows nor
// their Meta.
//
// Semantics are the front-end's evaluation over the message's Meta (message.Info), which
// stays the definition: a case-insensitive substring of
//
//   - FROM, TO: the decoded display list (Info.From, Info.To: "Name <a@b>, c@d"), or one
//     envelope address written "Name <mailbox@host>";
//   - CC, BCC: one envelope address written "Name <mailbox@host>";
//   - SUBJECT: the decoded subject (Info.Subject) or the raw one (Envelope.Subject).
//
// KeysOf writes each field's alternatives as one string, every alternative after a
// "\n" and folded with strings.ToLower (whose result is always valid UTF-8, so PostgreSQL
// text holds it), NUL turned into "\n". A needle without "\n" or NUL (HeaderIndexable)
// then occurs in the string exactly when it occurs, case-insensitively, in one of the
// alternatives, so a driver answers with one substring test per message (instr, strpos),
// bytewise, never by a database's locale. A field without alternatives (no Cc address)
// is "\n" and matches no needle, not even "" (length > 1 in SQL). A message whose Meta is
// missing or cannot be decoded has no text (""): drivers report it as unsure and the
// caller evaluates it.
//
// Drivers keep the text in their sort_keys rows (written with the message by every insert
// path, like the sort keys; NULL for rows from before, filled before a search answers).

// Header search fields.
const (
	HeaderFrom    = "from"
	HeaderTo      = "to"
	HeaderCc      = "cc"
	HeaderBcc     = "bcc"
	HeaderSubject = "subject"
)

// HeaderQuery is one header search key over the UIDs MinUID..MaxUID (0 MaxUID: no bound).
type HeaderQuery struct {
	Field          string // HeaderFrom, HeaderTo, HeaderCc, HeaderBcc, HeaderSubject
	Needle         string // HeaderIndexable; "" matches every message with text
	MinUID, MaxUID UID
}

// HeaderSearcher is implemented by drivers that keep header text. Front-ends use it when
// the store has it (a type assertion) and the needle is HeaderIndexable, and evaluate the
// key over Meta otherwise.
type HeaderSearcher interface {
	// SearchHeader returns, in ascending order, the UIDs in the range whose text of
	// q.Field contains the folded q.Needle, and apart the UIDs it cannot answer for (no
	// decodable Meta). ErrNotFound for a mailbox not of acct, ErrInvalid for an unknown
	// field or a needle that is not HeaderIndexable.
	SearchHeader(ctx context.Context, acct AccountRef, mbox MailboxID, q HeaderQuery) (match, unsure []UID, err error)
}

// HeaderIndexable reports whether a needle can be answered from header text: it holds
// no "\n" or NUL, the separators of the alternatives.
func HeaderIndexable(needle string) bool {
	return !strings.ContainsAny(needle, "\n\x00")
}

// FoldHeaderNeedle is the needle a driver looks for.
func FoldHeaderNeedle(needle string) string {
	return strings.ToLower(needle)
}

// HeaderKeys is a message's header search text, one string per field ("" for none).
type HeaderKeys struct {
	From, To, Cc, Bcc, Subject string
}

// headerMeta is what MessageKeys decodes of a Meta (message.Info).
type headerMeta struct {
	Subject  string `json:"subject"`
	From     string `json:"from"`
	To       string `json:"to"`
	Envelope struct {
		Subject string     `json:"subject"`
		From    []metaAddr `json:"from"`
		To      []metaAddr `json:"to"`
		Cc      []metaAddr `json:"cc"`
		Bcc     []metaAddr `json:"bcc"`
	} `json:"env"`
}

type metaAddr struct {
	Name    string `json:"name"`
	Mailbox string `json:"mailbox"`
	Host    string `json:"host"`
}

// MessageKeys are what a driver keeps beside each message in its sort_keys table: the
// sort keys (SortKeys) and the header search text.
type MessageKeys struct {
	SortFrom, SortSubject string
	Header                HeaderKeys
}

// KeysOf returns the keys of a message from its Meta, decoded once. A missing or
// undecodable Meta gives no header text (and the sort keys of SortKeys).
func KeysOf(meta []byte) MessageKeys {
	var m headerMeta
	if len(meta) == 0 || json.Unmarshal(meta, &m) != nil {
		var k MessageKeys
		k.SortFrom, k.SortSubject = SortKeys(meta)
		return k
	}
	var k MessageKeys
	if f := m.Envelope.From; len(f) > 0 {
		k.SortFrom = sortFrom(f[0].Name, f[0].Mailbox, f[0].Host)
	}
	k.SortSubject = BaseSubject(m.Subject)
	k.Header = HeaderKeys{
		From:    headerAlts([]string{m.From}, m.Envelope.From),
		To:      headerAlts([]string{m.To}, m.Envelope.To),
		Cc:      headerAlts(nil, m.Envelope.Cc),
		Bcc:     headerAlts(nil, m.Envelope.Bcc),
		Subject: headerAlts([]string{m.Subject, m.Envelope.Subject}, nil),
	}
	return k
}

// headerAlts writes texts and then addrs ("Name <mailbox@host>"), each after a "\n",
// folded.
func headerAlts(texts []string, addrs []metaAddr) string {
	var b strings.Builder
	b.WriteByte('\n') // a field with no alternative is "\n", not the "" of no text
	for _, t := range texts {
		b.WriteString(foldHeader(t))
		b.WriteByte('\n')
	}
	for _, a := range addrs {
		b.WriteString(foldHeader(a.Name + " <" + a.Mailbox + "@" + a.Host + ">"))
		b.WriteByte('\n')
	}
	return b.String()
}

func foldHeader(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "\x00", "\n"))
}
