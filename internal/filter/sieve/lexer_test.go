package sieve

import (
	"strconv"
	"strings"
	"testing"
)

// lexAll returns the tokens of src as "kind:text" (numbers as their value).
func lexAll(t *testing.T, src string) []token {
	t.Helper()
	lx := newLexer(src)
	var out []token
	for range 1000 {
		tok, err := lx.next()
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if tok.kind == tokEOF {
			return out
		}
		out = append(out, tok)
	}
	t.Fatal("lexer does not end")
	return nil
}

func TestLexer(t *testing.T) {
	toks := lexAll(t, "IF Header :IS [\"a\", # comment\r\n \"b\\\"c\\\\d\\q\"] 10k 2M 1G /* x */ TEXT:  # c\r\nline\r\n..dot\r\n.\r\n;")
	var got []string
	for _, tk := range toks {
		switch tk.kind {
		case tokNumber:
			got = append(got, "num:"+strconv.FormatInt(tk.num, 10))
		default:
			got = append(got, tk.kind.String()+":"+tk.text)
		}
	}
	want := []string{
		"identifier:if", "identifier:header", "tag:is", "punctuation:[", `string:a`, "punctuation:,",
		`string:b"c\dq`, "punctuation:]", "num:10240", "num:2097152", "num:1073741824",
		"string:line\r\n.dot\r\n", "punctuation:;",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("tokens\n got  %q\n want %q", got, want)
	}
	// Positions count lines after CRLF and LF alike, and columns in characters.
	toks = lexAll(t, "keep;\r\n  \"é\" \"x\";\n\tstop;")
	pos := []string{}
	for _, tk := range toks {
		pos = append(pos, tk.pos.String())
	}
	if strings.Join(pos, " ") != "1:1 1:5 2:3 2:7 2:10 3:2 3:6" {
		t.Errorf("positions %v", pos)
	}
}
