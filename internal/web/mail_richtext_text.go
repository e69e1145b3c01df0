package web

import (
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlText renders sanitised HTML as plain text for the text/plain alternative:
// paragraphs and breaks as line breaks, list items as "- " or "1. ", quotes as "> "
// lines (RFC 3676 4.5 style), links as "text <url>" when the text is not the URL.
func htmlText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	w := &textWriter{atLine: true}
	for {
		switch z.Next() {
		case html.ErrorToken:
			// A link left open (never in sanitised HTML) leaves its marker: drop it.
			return strings.ReplaceAll(strings.TrimRight(w.b.String(), "\n "), "\x00", "") + "\n"
		case html.TextToken:
			w.text(string(z.Text())) // Text consumes the token's text: read it once
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			href := ""
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				if string(k) == "href" {
					href = string(v)
				}
			}
			w.start(atom.Lookup(name), href)
		case html.EndTagToken:
			name, _ := z.TagName()
			w.end(atom.Lookup(name))
		}
	}
}

// textWriter is the state of htmlText.
type textWriter struct {
	b      strings.Builder
	quote  int      // depth of <blockquote>
	lists  []int    // per open list: 0 bulleted, else the next number
	hrefs  []string // per open link
	atLine bool     // at the start of a line
	space  bool     // white space seen since the last word
}

// blockTags start and end a line.
var blockTags = map[atom.Atom]bool{atom.P: true, atom.Div: true, atom.H1: true, atom.H2: true, atom.H3: true,
	atom.H4: true, atom.H5: true, atom.H6: true, atom.Pre: true, atom.Table: true, atom.Tr: true}

func (w *textWriter) newline() {
	w.b.WriteString("\n")
	w.atLine, w.space = true, false
}

func (w *textWriter) block() {
	if !w.atLine {
		w.newline()
	}
}

// write adds s, after the quote marks when it starts a line.
func (w *textWriter) write(s string) {
	if w.atLine {
		if w.quote > 0 {
			w.b.WriteString(strings.Repeat(">", w.quote) + " ")
		}
		w.atLine = false
	}
	w.b.WriteString(s)
}

// text adds a text token: white space collapses to one space between words (HTML;
// &nbsp; too), none at a line start.
func (w *textWriter) text(raw string) {
	if raw == "" {
		return
	}
	if strings.TrimLeftFunc(raw, unicode.IsSpace) != raw {
		w.space = true
	}
	t := strings.Join(strings.Fields(raw), " ")
	if t == "" {
		return
	}
	if w.space && !w.atLine {
		w.write(" ")
	}
	w.write(t)
	w.space = strings.TrimRightFunc(raw, unicode.IsSpace) != raw
}

func (w *textWriter) start(a atom.Atom, href string) {
	switch {
	case a == atom.Br:
		w.newline()
	case blockTags[a]:
		w.block()
	case a == atom.Blockquote:
		w.block()
		w.quote++
	case a == atom.Ul:
		w.block()
		w.lists = append(w.lists, 0)
	case a == atom.Ol:
		w.block()
		w.lists = append(w.lists, 1)
	case a == atom.Li:
		w.block()
		marker := "- "
		if n := len(w.lists); n > 0 && w.lists[n-1] > 0 {
			marker = strconv.Itoa(w.lists[n-1]) + ". "
			w.lists[n-1]++
		}
		w.write(strings.Repeat("  ", max(0, len(w.lists)-1)) + marker)
	case a == atom.A:
		w.hrefs = append(w.hrefs, href)
		w.b.WriteString("\x00") // marks where the link text starts
	}
}

func (w *textWriter) end(a atom.Atom) {
	switch {
	case blockTags[a] || a == atom.Li:
		w.block()
	case a == atom.Blockquote:
		w.block()
		w.quote = max(0, w.quote-1)
	case a == atom.Ul || a == atom.Ol:
		w.block()
		if len(w.lists) > 0 {
			w.lists = w.lists[:len(w.lists)-1]
		}
	case a == atom.A && len(w.hrefs) > 0:
		href := w.hrefs[len(w.hrefs)-1]
		w.hrefs = w.hrefs[:len(w.hrefs)-1]
		linkText(&w.b, href)
	}
}

// linkText ends a link in b: the text since the last NUL marker, then " <href>" unless
// the text is the address itself.
func linkText(b *strings.Builder, href string) {
	s := b.String()
	i := strings.LastIndexByte(s, 0)
	if i < 0 {
		return
	}
	text := s[i+1:]
	b.Reset()
	b.WriteString(s[:i])
	b.WriteString(text)
	if href != "" && strings.TrimSpace(text) != href && strings.TrimSpace(text) != strings.TrimPrefix(href, "mailto:") {
		b.WriteString(" <" + href + ">")
	}
}
