package imapserver

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// parseAll reads one command from input with a generic argument walk (the shape every
// handler uses) and returns the tokens it saw, or the error.
func parseAll(input string, maxLine int, maxLit int64) (tag string, toks []string, conts int, err error) {
	br := bufio.NewReader(strings.NewReader(input))
	p := newParser(br, func() error { conts++; return nil }, maxLine, maxLit)
	if err = p.begin(); err != nil {
		return
	}
	if tag, err = p.tag(); err != nil {
		return
	}
	for !p.atEnd() {
		if err = p.sp(); err != nil {
			return
		}
		var tok string
		switch c := p.peek(); {
		case c == '(':
			err = p.list(func() error {
				s, err := p.astring()
				toks = append(toks, "("+s+")")
				return err
			})
			continue
		case c >= '0' && c <= '9' || c == '*' || c == '$':
			var set seqSet
			set, err = p.seqSet()
			tok = "set:" + setString(set)
		default:
			tok, err = p.astring()
		}
		if err != nil {
			return
		}
		toks = append(toks, tok)
	}
	return
}

func setString(s seqSet) string {
	if s.dollar {
		return "$"
	}
	return uidSet(s.ranges).String()
}

func TestParser(t *testing.T) {
	tests := []struct {
		name, in  string
		tag       string
		toks      []string
		conts     int
		errStatus string
		errCode   string
	}{
		{name: "atoms", in: "a1 LOGIN user pass\r\n", tag: "a1", toks: []string{"LOGIN", "user", "pass"}},
		{name: "bare LF", in: "a1 NOOP\n", tag: "a1", toks: []string{"NOOP"}},
		{name: "quoted", in: `a2 LOGIN "us\"er" "p\\w"` + "\r\n", tag: "a2", toks: []string{"LOGIN", `us"er`, `p\w`}},
		{name: "sync literal", in: "a3 LOGIN {4}\r\nuser {2}\r\npw\r\n", tag: "a3", toks: []string{"LOGIN", "user", "pw"}, conts: 2},
		{name: "literal+", in: "a4 LOGIN {4+}\r\nuser pw\r\n", tag: "a4", toks: []string{"LOGIN", "user", "pw"}},
		{name: "literal8", in: "a5 X ~{3}\r\na\x00b\r\n", tag: "a5", toks: []string{"X", "a\x00b"}, conts: 1},
		{name: "NUL in literal", in: "a5 X {3+}\r\na\x00b\r\n", errStatus: "BAD"},
		{name: "sequence sets", in: "a6 FETCH 1:*,3,$\r\n", errStatus: "BAD"},
		{name: "sequence set", in: "a6 FETCH 4:2,7,*:9\r\n", tag: "a6", toks: []string{"FETCH", "set:4:2,7,0:9"}},
		{name: "saved", in: "a6 FETCH $\r\n", tag: "a6", toks: []string{"FETCH", "set:$"}},
		{name: "zero seq", in: "a6 FETCH 0\r\n", errStatus: "BAD"},
		{name: "list", in: "a7 X (a \"b c\" {1+}\r\nd)\r\n", tag: "a7", toks: []string{"X", "(a)", "(b c)", "(d)"}},
		{name: "bad tag", in: "+ NOOP\r\n", errStatus: "BAD"},
		{name: "unterminated", in: "a8 X \"abc\r\n", errStatus: "BAD"},
		{name: "literal not at end", in: "a9 X {3} y\r\n", errStatus: "BAD"},
		{name: "sync literal too big", in: "b1 X {2000000}\r\n", errStatus: "NO", errCode: codeTooBig},
		{name: "non-sync literal too big", in: "b2 X {2000000+}\r\n", errStatus: "BAD", errCode: codeTooBig},
		{name: "line too long", in: "b3 X " + strings.Repeat("a", 200) + "\r\n", errStatus: "BAD", errCode: codeTooBig},
		{name: "huge number", in: "b4 X {99999999999999999999}\r\n", errStatus: "BAD"},
		{name: "eof in literal", in: "b5 X {10+}\r\nabc", errStatus: "io"},
		{name: "control in quoted", in: "b6 X \"a\x00b\"\r\n", errStatus: "BAD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tag, toks, conts, err := parseAll(tc.in, 100, 1<<20)
			if tc.errStatus != "" {
				var re *respError
				switch {
				case tc.errStatus == "io":
					if err == nil || errors.As(err, &re) {
						t.Fatalf("err = %v, want an I/O error", err)
					}
				case !errors.As(err, &re):
					t.Fatalf("err = %v, want %s", err, tc.errStatus)
				case re.status != tc.errStatus || re.code != tc.errCode:
					t.Fatalf("err = %v, want %s [%s]", re, tc.errStatus, tc.errCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tag != tc.tag || strings.Join(toks, "|") != strings.Join(tc.toks, "|") || conts != tc.conts {
				t.Fatalf("got tag %q toks %q conts %d, want %q %q %d", tag, toks, conts, tc.tag, tc.toks, tc.conts)
			}
		})
	}
}

// TestSkipCommand: after a failed command, non-synchronizing literals the client sends
// anyway are skipped, never read as commands.
func TestSkipCommand(t *testing.T) {
	in := "a1 X \"bad {5+}\r\nb2 Z {4+}\r\nEVIL\r\na3 NOOP\r\n"
	p := newParser(bufio.NewReader(strings.NewReader(in)), func() error { return nil }, 1000, 1<<20)
	if err := p.begin(); err != nil {
		t.Fatal(err)
	}
	if err := p.skipCommand(); err != nil {
		t.Fatal(err)
	}
	if err := p.begin(); err != nil {
		t.Fatal(err)
	}
	if got := string(p.line); got != "a3 NOOP" {
		t.Fatalf("next command %q, want a3 NOOP", got)
	}
}

func TestLiteralStream(t *testing.T) {
	p := newParser(bufio.NewReader(strings.NewReader("{11}\r\nhello world)\r\n")), func() error { return nil }, 100, 20)
	if err := p.begin(); err != nil {
		t.Fatal(err)
	}
	h, err := p.literalAt()
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.openLiteral(h)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.LimitReader(r, 5))
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q %v", b, err)
	}
	if err := p.finishLiteral(r); err != nil {
		t.Fatal(err)
	}
	if string(p.line) != ")" {
		t.Fatalf("continuation %q", p.line)
	}
}

func TestModifiedUTF7(t *testing.T) {
	good := map[string]string{
		"INBOX":                           "INBOX",
		"&-":                              "&",
		"Caf&AOk-":                        "Café",
		"&ZeVnLIqe-":                      "日本語",
		"~peter/mail/&U,BTFw-/&ZeVnLIqe-": "~peter/mail/台北/日本語",
		"&2D3eAQ-":                        "\U0001F601",
	}
	for enc, dec := range good {
		got, err := decodeMUTF7(enc)
		if err != nil || got != dec {
			t.Errorf("decode %q = %q, %v; want %q", enc, got, err, dec)
		}
		if back := encodeMUTF7(dec); back != enc {
			t.Errorf("encode %q = %q, want %q", dec, back, enc)
		}
	}
	for _, bad := range []string{"&", "&Jjo", "&AGE-", "&2D3-", "&3gE-", "a\tb", "Café", "&AOk", "&A-", "&AOkA-", "&////-"} {
		if got, err := decodeMUTF7(bad); err == nil {
			t.Errorf("decode %q = %q, want an error", bad, got)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pat, name string
		want      bool
	}{
		{"*", "a/b/c", true}, {"%", "a/b", false}, {"%", "a", true}, {"a/%", "a/b", true},
		{"a/%", "a/b/c", false}, {"a*c", "a/b/c", true}, {"a%c", "a/c", false}, {"", "", true},
		{"INBOX", "INBOX", true}, {"%/%", "a/b", true}, {"*%*%*%*%*%*%*%x", strings.Repeat("a", 500), false},
	}
	for _, tc := range tests {
		if got := matchPattern(tc.pat, tc.name); got != tc.want {
			t.Errorf("matchPattern(%q, %q) = %v", tc.pat, tc.name, got)
		}
	}
}

func TestFilterHeader(t *testing.T) {
	h := []byte("From: a\r\nSubject: one\r\n two\r\nX-A: b\r\n\r\n")
	if got := string(filterHeader(h, []string{"SUBJECT"}, false)); got != "Subject: one\r\n two\r\n\r\n" {
		t.Errorf("fields %q", got)
	}
	if got := string(filterHeader(h, []string{"subject", "from"}, true)); got != "X-A: b\r\n\r\n" {
		t.Errorf("fields.not %q", got)
	}
}
