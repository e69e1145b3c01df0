package bayes

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"mailgrid/internal/message"
)

// readText returns at most limit bytes of a text part's body, transfer-decoded (RFC 2045
// 6.7 quoted-printable, 6.8 base64) and converted to UTF-8 from its charset (RFC 2046
// 4.1.2). Bad encodings and unknown charsets keep what could be read; only read errors
// from msg fail.
func readText(msg Message, p *message.Part, limit int64) (string, error) {
	src := &readErr{r: io.NewSectionReader(msg, p.BodyStart, p.End-p.BodyStart)}
	var r io.Reader = src
	switch p.Encoding {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &base64Filter{r: r})
	}
	if cs := strings.ToLower(p.Params["charset"]); cs != "" && cs != "utf-8" && cs != "us-ascii" {
		if cr, err := charset.Reader(cs, r); err == nil {
			r = cr
		}
	}
	b, _ := io.ReadAll(io.LimitReader(r, limit)) // decoding errors: keep what was decoded
	if src.err != nil {
		return "", fmt.Errorf("bayes: tokenize: read body: %w", src.err)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), nil
}

// readErr remembers a read error other than io.EOF from the message itself, so it can be
// told apart from a decoding error.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// base64Filter drops bytes outside the base64 alphabet (spaces, tabs, stray characters),
// as RFC 2045 6.8 asks decoders to ignore them.
type base64Filter struct{ r io.Reader }

func (f *base64Filter) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := f.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// field is one raw header field: lower-case name, unfolded value.
type field struct{ name, value string }

// headerFields splits a raw header into fields, unfolding continuation lines (RFC 5322
// 2.2.3) and skipping lines that are not fields. At most 500 fields are returned.
func headerFields(raw []byte) []field {
	var out []field
	for len(raw) > 0 && len(out) < 500 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if len(out) > 0 {
				out[len(out)-1].value += " " + strings.TrimSpace(string(line))
			}
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			continue
		}
		out = append(out, field{strings.ToLower(string(name)), strings.TrimSpace(string(value))})
	}
	return out
}

// decodeHeader decodes RFC 2047 encoded-words, leaving undecodable text as it is.
func decodeHeader(s string) string {
	dec := mime.WordDecoder{CharsetReader: charset.Reader}
	if out, err := dec.DecodeHeader(s); err == nil {
		s = out
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// words adds the word tokens of text, each with prefix. A word is a run of letters and
// digits (with inner hyphens, apostrophes, dots and dollar signs); words of fewer than
// minWordRunes runes are dropped, longer ones than maxWordRunes become
// "skip:<first rune>:<length/10*10>".
func (t *tokens) words(prefix, text string) {
	for w := range strings.FieldsFuncSeq(text, isSeparator) {
		w = strings.Trim(w, "-'.")
		n := utf8.RuneCountInString(w)
		switch {
		case n < minWordRunes:
		case n > maxWordRunes:
			r, _ := utf8.DecodeRuneInString(w)
			t.add(fmt.Sprintf("%sskip:%c:%d", prefix, unicode.ToLower(r), n/10*10))
		default:
			t.add(prefix + strings.ToLower(w))
		}
		if len(t.set) >= MaxTokens {
			return
		}
	}
}

func isSeparator(r rune) bool {
	return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '\'' && r != '$' && r != '.'
}

// isShouting reports a subject that is mostly upper-case letters.
func isShouting(s string) bool {
	upper, letters := 0, 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	return letters >= 6 && upper*10 >= letters*8
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
