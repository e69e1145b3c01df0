package managesieve

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// testBudget gives PUTSCRIPT and CHECKSCRIPT a script's budget, the rest a small one.
func testBudget(verb string) int64 {
	if carriesScript(verb) {
		return 1024
	}
	return 64
}

func parseAll(data []byte, maxLine int, discard int64, budget func(string) int64) ([]*command, []error) {
	p := newParser(bufio.NewReaderSize(bytes.NewReader(data), 4096), maxLine, discard)
	var cmds []*command
	var errs []error
	for range len(data) + 2 { // every round consumes an octet or ends
		cmd, err := p.command(budget)
		var pe *parseError
		if errors.As(err, &pe) {
			errs = append(errs, pe)
			if err = p.skip(); err == nil {
				continue
			}
		}
		if err != nil {
			errs = append(errs, err)
			return cmds, errs
		}
		if cmd != nil {
			cmds = append(cmds, cmd)
		}
	}
	panic("parser did not end")
}

func TestParseCommands(t *testing.T) {
	in := "putscript \"my \\\"script\\\"\" {9+}\r\nkeep;\r\n\r\n\r\n" + // literal with CRLFs inside
		"HAVESPACE \"a\" 4294967295\r\n" +
		"NOOP\n" + // bare LF accepted
		"GETSCRIPT {3}\r\nabc\r\n" + // synchronising form read the same way
		"\r\n" + // an empty line: nothing
		"RenameScript \"\" {0+}\r\n\r\n"
	cmds, errs := parseAll([]byte(in), 512, 4096, testBudget)
	if len(errs) != 1 || errs[0] != io.EOF {
		t.Fatalf("errors %v", errs)
	}
	want := []command{
		{verb: "PUTSCRIPT", args: []arg{{kind: argString, s: `my "script"`}, {kind: argString, s: "keep;\r\n\r\n"}}},
		{verb: "HAVESPACE", args: []arg{{kind: argString, s: "a"}, {kind: argNumber, n: 4294967295}}},
		{verb: "NOOP"},
		{verb: "GETSCRIPT", args: []arg{{kind: argString, s: "abc"}}},
		{verb: "RENAMESCRIPT", args: []arg{{kind: argString}, {kind: argString}}},
	}
	if len(cmds) != len(want) {
		t.Fatalf("got %d commands: %+v", len(cmds), cmds)
	}
	for i := range want {
		if cmds[i].verb != want[i].verb || !slices.Equal(cmds[i].args, want[i].args) {
			t.Errorf("command %d: %+v, want %+v", i, *cmds[i], want[i])
		}
	}
}

// A refused command is skipped with the literal announced at the end of its line, and
// the literal after that, so their text never runs.
func TestParseSkipsLiterals(t *testing.T) {
	in := "PUTSCRIPT bad {8+}\r\nLOGOUT\r\n {8+}\r\nLOGOUT\r\n\r\nNOOP \"after\"\r\n"
	cmds, errs := parseAll([]byte(in), 512, 4096, testBudget)
	if len(cmds) != 1 || cmds[0].verb != "NOOP" || cmds[0].args[0].s != "after" {
		t.Fatalf("commands %+v (errors %v)", cmds, errs)
	}
}

// Over-budget literals are skipped (QUOTA/MAXSIZE for scripts only) up to the discard
// bound; beyond it the stream cannot be followed.
func TestParseLiteralBounds(t *testing.T) {
	in := "PUTSCRIPT \"a\" {2000+}\r\n" + strings.Repeat("x", 2000) + "\r\nGETSCRIPT {100+}\r\n" + strings.Repeat("y", 100) + "\r\nNOOP\r\n"
	cmds, errs := parseAll([]byte(in), 512, 4096, testBudget)
	if len(cmds) != 1 || cmds[0].verb != "NOOP" {
		t.Fatalf("commands %+v", cmds)
	}
	var pe1, pe2 *parseError
	if len(errs) != 3 || !errors.As(errs[0], &pe1) || pe1.code != codeMaxSize || !errors.As(errs[1], &pe2) || pe2.code != "" {
		t.Fatalf("errors %v", errs)
	}
	_, errs = parseAll([]byte("PUTSCRIPT \"a\" {5000+}\r\n"), 512, 4096, testBudget)
	if len(errs) != 1 || !errors.Is(errs[0], errLiteralHuge) {
		t.Fatalf("huge literal: %v", errs)
	}
	_, errs = parseAll([]byte("NOOP \""+strings.Repeat("z", 600)+"\"\r\n"), 512, 4096, testBudget)
	if len(errs) != 1 || !errors.Is(errs[0], errLineTooLong) {
		t.Fatalf("long line: %v", errs)
	}
}

func TestEncodeString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                   `"plain"`,
		`a "q" \ b`:               `"a \"q\" \\ b"`,
		"":                        `""`,
		"two\r\nlines":            "{10}\r\ntwo\r\nlines",
		"\xff":                    "{1}\r\n\xff",
		strings.Repeat("x", 1025): "{1025}\r\n" + strings.Repeat("x", 1025),
	} {
		if got := encodeString(in); got != want {
			t.Errorf("encodeString(%q) = %q, want %q", in, got, want)
		}
	}
}

// encodeCommand writes cmd as a client would: short clean strings quoted, the rest as
// literals.
func encodeCommand(cmd *command) []byte {
	var b bytes.Buffer
	b.WriteString(cmd.verb)
	for _, a := range cmd.args {
		b.WriteByte(' ')
		switch {
		case a.kind == argNumber:
			b.WriteString(strconv.FormatUint(uint64(a.n), 10))
		case len(a.s) <= 64 && utf8.ValidString(a.s) && !strings.ContainsAny(a.s, "\x00\r\n"):
			b.WriteString(`"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a.s) + `"`)
		default:
			b.WriteString("{" + strconv.Itoa(len(a.s)) + "+}\r\n" + a.s)
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// FuzzParse feeds the command parser arbitrary client bytes. It must not panic, must
// end (every round consumes input or stops), must keep its bounds (argument count,
// literal budgets, UTF-8 quoted strings), and every command it accepts must read back
// the same after being written out again. The committed corpus
// (testdata/fuzz/FuzzParse) holds the client side of the golden dialogs and the
// attacks of the reject tests.
func FuzzParse(f *testing.F) {
	f.Add([]byte("PUTSCRIPT \"main\" {5+}\r\nkeep;\r\nSETACTIVE \"main\"\r\nLOGOUT\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cmds, _ := parseAll(data, 512, 4096, testBudget)
		for _, cmd := range cmds {
			if cmd.verb == "" || len(cmd.verb) > maxVerb || strings.ToUpper(cmd.verb) != cmd.verb || len(cmd.args) > maxArgs {
				t.Fatalf("command %+v breaks the grammar", cmd)
			}
			var lit int64
			for _, a := range cmd.args {
				lit += int64(len(a.s))
			}
			if lit > testBudget(cmd.verb)+512 { // literals plus quoted strings on the line
				t.Fatalf("command %s carries %d octets over its budget", cmd.verb, lit)
			}
			again, errs := parseAll(encodeCommand(cmd), 1<<20, 1<<20, func(string) int64 { return 1 << 20 })
			if len(again) != 1 || again[0].verb != cmd.verb || !slices.Equal(again[0].args, cmd.args) {
				t.Fatalf("round trip of %+v gave %+v (%v)", cmd, again, errs)
			}
		}
	})
}
