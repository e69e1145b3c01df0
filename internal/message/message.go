// Package message parses and composes Internet messages (RFC 5322, MIME RFC 2045-2049).
//
// Model: a message is parsed once, at delivery, by Parse into an Info, which the store
// caches as JSON beside the message (store.Message.Meta). Info holds what IMAP and webmail
// ask for again and again without touching the body: the ENVELOPE fields (RFC 9051 7.5.2),
// the BODYSTRUCTURE tree (RFC 9051 7.5.2, RFC 3501 7.4.2), and for every part the byte
// offsets of its MIME header, its body and its end in the raw message, so FETCH
// BODY[1.2.MIME], BODY[1.2], BODY[2.HEADER], BODY[2.TEXT] are a slice of the stored blob.
//
// Offsets follow RFC 2046 5.1.1: the CRLF before a boundary delimiter belongs to the
// delimiter, so a part's End excludes it. For every part:
//
//	HeaderStart <= BodyStart <= End <= Info.Size
//	raw[HeaderStart:BodyStart]  the part's MIME header, including the empty line ending it
//	raw[BodyStart:End]          the part's body as stored (Size octets, Lines lines)
//
// For message/rfc822 (and message/global, RFC 6532 3.7) the encapsulated message is
// Part.Message: its HeaderStart is the enclosing part's BodyStart, and
// raw[Message.HeaderStart:Message.BodyStart] is BODY[n.HEADER].
//
// Parse makes one streaming pass over an io.ReaderAt: bodies are counted (octets, lines),
// never held, so a 100 MB attachment costs a read buffer. Nesting depth (MaxDepth) and the
// number of parts (MaxParts) are bounded. Malformed MIME never fails: a multipart whose
// boundary never appears becomes a text/plain part over its body, a missing close
// delimiter ends the part where the enclosing one ends, an unparsable Content-Type is
// text/plain (RFC 2045 5.2), and Info.Malformed records that any of this happened. The
// only errors are read errors.
//
// Spool is the rereadable buffer a message is received into (memory up to a limit, then an
// unlinked temporary file), and compose.go holds the small writing helpers the SMTP and
// queue code need (header fields, Message-ID, Date).
//
// Libraries: header decoding uses github.com/emersion/go-message/charset (imported here,
// once) so RFC 2047 encoded-words in legacy charsets (ISO-8859-x, windows-125x, KOI8,
// Shift_JIS, ...) decode to UTF-8, in fields and in parameter values; addresses and dates
// use net/mail, media types and RFC 2231 parameters mime.ParseMediaType (standard library). The MIME tree walk is our own:
// go-message's reader hides the byte offsets IMAP needs.
package message

import "time"

// Limits bounding Parse on hostile input.
const (
	MaxDepth       = 50      // nested multipart / message levels
	MaxParts       = 10000   // parts in one message
	MaxHeaderBytes = 1 << 20 // bytes of one header kept for parsing; the rest is skipped
)

// Info is the parsed, cacheable description of a message. It marshals to JSON.
type Info struct {
	Envelope   Envelope `json:"env"`
	Structure  Part     `json:"body"`
	HeaderSize int64    `json:"hsize"` // octets of the top-level header incl. the empty line
	Size       int64    `json:"size"`  // octets of the whole message
	Malformed  bool     `json:"bad,omitempty"`

	// Normalised fields for SEARCH, sorting and message lists.
	Date          time.Time `json:"date,omitzero"`        // parsed Date header; zero if missing or bad
	Subject       string    `json:"subject,omitempty"`    // RFC 2047 decoded
	From          string    `json:"from,omitempty"`       // decoded, "Name <a@b>, c@d"
	To            string    `json:"to,omitempty"`         // decoded, as From
	MessageID     string    `json:"msgid,omitempty"`      // without angle brackets
	InReplyTo     string    `json:"inreplyto,omitempty"`  // first id, without angle brackets
	References    []string  `json:"references,omitempty"` // ids without angle brackets, in order
	HasAttachment bool      `json:"attach,omitempty"`
}

// Envelope holds the IMAP ENVELOPE fields (RFC 9051 7.5.2). Date, Subject, InReplyTo and
// MessageID are the raw header values (unfolded; not RFC 2047 decoded) as IMAP sends them;
// "" means the field is absent (NIL). Sender and ReplyTo default to From when absent.
type Envelope struct {
	Date      string    `json:"date,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	From      []Address `json:"from,omitempty"`
	Sender    []Address `json:"sender,omitempty"`
	ReplyTo   []Address `json:"replyto,omitempty"`
	To        []Address `json:"to,omitempty"`
	Cc        []Address `json:"cc,omitempty"`
	Bcc       []Address `json:"bcc,omitempty"`
	InReplyTo string    `json:"inreplyto,omitempty"`
	MessageID string    `json:"msgid,omitempty"`
}

// Address is one ENVELOPE address (RFC 9051 7.5.2 "addr-name", "addr-mailbox",
// "addr-host"). Name is RFC 2047 decoded UTF-8; a client that has not enabled UTF8=ACCEPT
// needs it re-encoded (mime.QEncoding). Group syntax is flattened to its members.
type Address struct {
	Name    string `json:"name,omitempty"`
	Mailbox string `json:"mailbox,omitempty"`
	Host    string `json:"host,omitempty"`
}

// Part is one node of the BODYSTRUCTURE tree (RFC 9051 7.5.2 BODYSTRUCTURE). Type, Subtype,
// Encoding, Disposition and parameter names are lower case; parameter values are decoded
// (RFC 2231, and RFC 2047 as sent by many clients) to UTF-8.
type Part struct {
	Type        string            `json:"type"`
	Subtype     string            `json:"sub"`
	Params      map[string]string `json:"params,omitempty"`
	ID          string            `json:"id,omitempty"`   // Content-ID
	Description string            `json:"desc,omitempty"` // Content-Description, raw
	Encoding    string            `json:"enc"`            // Content-Transfer-Encoding, default "7bit"
	Size        int64             `json:"size"`           // octets of the body as stored
	Lines       int64             `json:"lines,omitempty"`
	MD5         string            `json:"md5,omitempty"` // Content-MD5

	Disposition       string            `json:"disp,omitempty"`
	DispositionParams map[string]string `json:"dparams,omitempty"`
	Language          []string          `json:"lang,omitempty"`
	Location          string            `json:"loc,omitempty"`

	HeaderStart int64 `json:"hs"`
	BodyStart   int64 `json:"bs"`
	End         int64 `json:"end"`

	Children []Part `json:"parts,omitempty"` // multipart/*
	// Envelope and Message describe an encapsulated message (message/rfc822 or
	// message/global in 7bit, 8bit or binary). Both are nil for one in base64 or
	// quoted-printable, which cannot be parsed in place: serve it as a basic part.
	Envelope *Envelope `json:"menv,omitempty"`
	Message  *Part     `json:"msg,omitempty"` // the encapsulated message's root part
}

// IsMultipart reports whether p is a multipart with children.
func (p *Part) IsMultipart() bool { return p.Type == "multipart" && len(p.Children) > 0 }

// IsMessage reports whether p encapsulates a parsed message (message/rfc822 or global).
func (p *Part) IsMessage() bool { return p.Message != nil }

// Find returns the part an IMAP section number names (RFC 9051 6.4.5 "part
// specifier"): path {} is p itself, {2, 1} is the first part of the second part. A
// non-multipart part has one part, itself (section 1); a message part's sub-parts are
// those of its encapsulated message.
func (p *Part) Find(path ...int) (*Part, bool) {
	cur := p
	for _, n := range path {
		if n < 1 {
			return nil, false
		}
		if cur.Message != nil {
			cur = cur.Message
		}
		switch {
		case cur.IsMultipart():
			if n > len(cur.Children) {
				return nil, false
			}
			cur = &cur.Children[n-1]
		case n == 1:
			// RFC 9051 6.4.5: a non-multipart body has part number 1.
		default:
			return nil, false
		}
	}
	return cur, true
}
