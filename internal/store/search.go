package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/quotedprintable"
	"slices"
	"strings"

	"github.com/emersion/go-message/charset"

	"mailgrid/internal/message"
)

// Full-text search of message text (IMAP SEARCH BODY and TEXT, RFC 9051 6.4.4).
//
// Semantics: IMAP SEARCH is a case-insensitive substring match. What is matched is the
// message's searchable text, defined once here (ExtractText) so every driver's index and
// the front-ends' fallback scan agree:
//
//   - header text: the top-level header, unfolded, RFC 2047 decoded, lines joined by "\n";
//   - body text: every text part (and untyped part) of the MIME tree, including those of
//     attached messages, transfer-decoded and charset-decoded to UTF-8, HTML stripped
//     of markup (tags, comments, scripts, styles; entities decoded), parts joined by
//     "\n". At most MaxSearchText bytes of body text per message are searchable.
//
// Case folding is strings.ToLower on both sides (FoldText), done in Go, so the drivers
// compare folded bytes exactly and never depend on a database's locale.
//
// Index model: a driver that implements TextSearcher keeps the folded text per body
// (blob), so a body shared by many messages is indexed once, and answers exactly: the
// UIDs it returns are those whose text contains the needle, no candidates to verify.
// Indexing is lazy: before answering, the driver indexes the bodies of the mailbox not
// indexed yet, so every path that adds messages (delivery, APPEND, COPY, import,
// migration) needs nothing. Drivers also index delivered mail in the background
// (IndexQueue, indexqueue.go), so a search rarely has much left to do; TextIndexState
// tells a front-end how much is left.

// MaxSearchText bounds the body text of one message kept for search.
const MaxSearchText = 4 << 20

// maxSearchHeader bounds the header bytes read for search.
const maxSearchHeader = 1 << 20

// TextQuery is one BODY or TEXT search key.
type TextQuery struct {
	Needle string // matched case-insensitively as a substring; "" matches every message
	Header bool   // TEXT: header text or body text; false: BODY, the body text only
}

// TextSearcher is implemented by drivers with a text index. Front-ends use it when the
// store has it (a type assertion) and scan the messages with ExtractText otherwise.
type TextSearcher interface {
	// SearchText returns, in ascending order, the UIDs of the mailbox's messages whose
	// searchable text contains q.Needle (exact, see above). It indexes first what is not
	// indexed yet. ErrNotFound for a mailbox not of acct.
	SearchText(ctx context.Context, acct AccountRef, mbox MailboxID, q TextQuery) ([]UID, error)
}

// TextIndexState is implemented by drivers with a text index that can tell, cheaply, how
// much of a mailbox the index does not cover yet. Front-ends use it to decide whether a
// search may use the index (indexing the rest inline costs little) or should avoid
// paying for a first build.
type TextIndexState interface {
	// TextUnindexed returns how many of the mailbox's messages have no index row, counted
	// up to limit (a result of limit means "limit or more"). ErrNotFound for a mailbox
	// not of acct.
	TextUnindexed(ctx context.Context, acct AccountRef, mbox MailboxID, limit int) (int, error)
}

// FoldText is the case folding of search: text and needle are both folded with it.
// Invalid UTF-8 becomes U+FFFD and NUL a space (PostgreSQL text holds neither).
func FoldText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", " ")
	return strings.ToLower(s)
}

// SearchableText is a message's searchable text, not folded.
type SearchableText struct {
	Header string
	Body   string
}

// ExtractText parses the message in r and returns its searchable text. The only errors
// are read errors of r.
func ExtractText(r io.ReaderAt, size int64) (SearchableText, error) {
	info, err := message.Parse(r, size)
	if err != nil {
		return SearchableText{}, fmt.Errorf("extract text: %w", err)
	}
	h, err := HeaderText(r, info.HeaderSize)
	if err != nil {
		return SearchableText{}, err
	}
	b, err := BodyText(r, &info.Structure)
	if err != nil {
		return SearchableText{}, err
	}
	return SearchableText{Header: h, Body: b}, nil
}

// HeaderText returns the searchable text of the header of hsize bytes at the start of r:
// unfolded (RFC 5322 2.2.3) and RFC 2047 decoded.
func HeaderText(r io.ReaderAt, hsize int64) (string, error) {
	raw := make([]byte, min(max(hsize, 0), maxSearchHeader))
	n, err := r.ReadAt(raw, 0)
	if err != nil && !(err == io.EOF && n == len(raw)) {
		return "", fmt.Errorf("header text: %w", err)
	}
	s := strings.NewReplacer("\r\n ", " ", "\r\n\t", " ", "\n ", " ", "\n\t", " ", "\r\n", "\n").Replace(string(raw))
	wd := mime.WordDecoder{CharsetReader: charset.Reader}
	if dec, err := wd.DecodeHeader(s); err == nil {
		s = dec
	}
	return s, nil
}

// BodyText returns the searchable body text of the part tree root over r.
func BodyText(r io.ReaderAt, root *message.Part) (string, error) {
	var b strings.Builder
	err := collectText(&b, r, root, 0)
	return b.String(), err
}

func collectText(b *strings.Builder, r io.ReaderAt, p *message.Part, depth int) error {
	if depth > message.MaxDepth || b.Len() >= MaxSearchText {
		return nil
	}
	switch {
	case p.IsMultipart():
		for i := range p.Children {
			if err := collectText(b, r, &p.Children[i], depth+1); err != nil {
				return err
			}
		}
	case p.Message != nil:
		return collectText(b, r, p.Message, depth+1)
	case p.Type == "text" || p.Type == "":
		t, err := partText(r, p, MaxSearchText-b.Len())
		if err != nil {
			return err
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(t)
	}
	return nil
}

// partText undoes a text part's transfer encoding and charset and strips HTML; at most
// limit bytes of decoded text. Malformed encodings end the text; only read errors of r
// are errors.
func partText(r io.ReaderAt, p *message.Part, limit int) (string, error) {
	src := &errReader{r: io.NewSectionReader(r, p.BodyStart, max(0, p.End-p.BodyStart))}
	var rd io.Reader = src
	switch strings.ToLower(p.Encoding) {
	case "base64":
		rd = base64.NewDecoder(base64.StdEncoding, rd)
	case "quoted-printable":
		rd = quotedprintable.NewReader(rd)
	}
	if cs := p.Params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		if cr, err := charset.Reader(cs, rd); err == nil {
			rd = cr
		}
	}
	isHTML := strings.EqualFold(p.Subtype, "html")
	read := limit
	if isHTML {
		read *= 4 // markup is stripped below
	}
	var buf bytes.Buffer
	_, _ = io.Copy(&buf, io.LimitReader(rd, int64(read))) // a decoding error ends the text
	if src.err != nil {
		return "", fmt.Errorf("body text: %w", src.err)
	}
	t := buf.String()
	if isHTML {
		t = StripHTML(t)
	}
	if len(t) > limit {
		t = strings.ToValidUTF8(t[:limit], "") // cut inside a rune: drop its bytes
	}
	return t, nil
}

// errReader remembers a read error of the underlying blob, so it is told apart from
// a decoding error of the part's content.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// StripHTML reduces HTML to the text a reader would see: tags and comments removed,
// script and style elements removed with their content, entities decoded. It is a
// scanner, not a parser; a tag boundary becomes a space.
func StripHTML(src string) string {
	var b strings.Builder
	b.Grow(len(src) / 2)
	i := 0
	for i < len(src) {
		j := strings.IndexByte(src[i:], '<')
		if j < 0 {
			b.WriteString(html.UnescapeString(src[i:]))
			break
		}
		b.WriteString(html.UnescapeString(src[i : i+j]))
		i += j
		next, block := skipMarkup(src, i)
		switch {
		case next == i+1:
			b.WriteByte('<') // a bare '<' in text ("a < b")
		case block:
			b.WriteByte('\n') // a line break a reader would show; inline tags join words
		}
		i = next
	}
	return b.String()
}

// blockTags are the elements that break a line of text.
var blockTags = []string{"br", "p", "div", "tr", "td", "th", "li", "ul", "ol", "table", "h1", "h2",
	"h3", "h4", "h5", "h6", "hr", "blockquote", "pre", "body", "title", "head"}

// skipMarkup returns the index after the markup starting at src[i] == '<' (i+1 for a '<'
// that starts no markup) and whether it breaks a line.
func skipMarkup(src string, i int) (int, bool) {
	rest := src[i+1:]
	switch {
	case strings.HasPrefix(rest, "!--"):
		return endAfter(src, i+4, "-->"), false
	case len(rest) == 0:
		return i + 1, false
	}
	c := rest[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '/' || c == '!' || c == '?') {
		return i + 1, false
	}
	end := endAfter(src, i+1, ">")
	name := strings.TrimPrefix(rest, "/")
	n := 0
	for n < len(name) && n < 16 && (name[n] >= 'a' && name[n] <= 'z' || name[n] >= 'A' && name[n] <= 'Z' || name[n] >= '0' && name[n] <= '9') {
		n++
	}
	name = strings.ToLower(name[:n])
	if (name == "script" || name == "style") && c != '/' {
		return closeTag(src, end, name), true
	}
	return end, slices.Contains(blockTags, name)
}

// endAfter returns the index after the first sep at or after i, or len(s).
func endAfter(s string, i int, sep string) int {
	if k := strings.Index(s[i:], sep); k >= 0 {
		return i + k + len(sep)
	}
	return len(s)
}

// closeTag returns the index after "</name ...>" at or after i (case-insensitive), or
// len(s).
func closeTag(s string, i int, name string) int {
	for i < len(s) {
		k := strings.Index(s[i:], "</")
		if k < 0 {
			return len(s)
		}
		i += k
		if len(s)-i-2 >= len(name) && strings.EqualFold(s[i+2:i+2+len(name)], name) {
			return endAfter(s, i, ">")
		}
		i += 2
	}
	return len(s)
}
