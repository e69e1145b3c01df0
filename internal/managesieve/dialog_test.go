package managesieve_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/managesieve"
)

// Golden dialogs: testdata/dialogs/*.txt are ManageSieve sessions written like the
// RFC 5804 examples.
//
//	# comment                 ignored, as are blank lines
//	@ directive [value]       server setup (before the first C:), or "@ closed" at the
//	                          end: the server must have closed the connection
//	C: text                   a client line; \xHH and \\ are escapes; CRLF is added. A
//	                          line ending in "{#+}" (or "{#}") starts a literal: the L:
//	                          lines after it are its content and "#" becomes their size
//	L: text                   one line of a client literal, CRLF added
//	S: pattern                the next server line: literal text except {*} (anything)
//	                          and {n} (digits)
//
// Directives: "greeted" (the runner reads the greeting first), "logged-in" (the runner
// reads the greeting, does STARTTLS and logs in first), "implicit-tls", "max-script-size N", "max-scripts N", "extensions a b c"
// (Options.Sieve.Extensions), "account-off" and "domain-off" (the ManageSieve switch
// of the account or of its domain is off), "account-disabled".
//
// After "C: STARTTLS" answered by OK, the runner does the TLS handshake.

type dialogStep struct {
	line   int
	client bool
	text   string // client: the raw bytes to send; server: the pattern
}

type dialog struct {
	directives map[string]string
	steps      []dialogStep
	closed     bool
}

func TestGoldenDialogs(t *testing.T) {
	files, err := filepath.Glob("testdata/dialogs/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dialogs: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			runDialog(t, f, parseDialog(t, f))
		})
	}
}

func parseDialog(t testing.TB, file string) dialog {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	d := dialog{directives: map[string]string{}}
	lit := -1 // index of the client step collecting a literal
	var content strings.Builder
	endLiteral := func() {
		if lit >= 0 {
			st := &d.steps[lit]
			st.text = strings.Replace(st.text, "{#", "{"+strconv.Itoa(content.Len()), 1) + content.String()
			lit = -1
			content.Reset()
		}
	}
	for i, l := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "L:"):
			if lit < 0 {
				t.Fatalf("%s:%d: L: without a literal", file, i+1)
			}
			content.WriteString(unescape(strings.TrimPrefix(l[2:], " ")) + "\r\n")
		case strings.HasPrefix(l, "@ "):
			endLiteral()
			k, v, _ := strings.Cut(strings.TrimPrefix(l, "@ "), " ")
			if k == "closed" {
				d.closed = true
			} else {
				d.directives[k] = v
			}
		case strings.HasPrefix(l, "C:"), strings.HasPrefix(l, "S:"):
			endLiteral()
			text := strings.TrimPrefix(l[2:], " ")
			st := dialogStep{line: i + 1, client: l[0] == 'C', text: text}
			if st.client {
				st.text = unescape(text) + "\r\n"
				if strings.HasSuffix(text, "{#+}") || strings.HasSuffix(text, "{#}") {
					lit = len(d.steps)
				}
			}
			d.steps = append(d.steps, st)
		default:
			t.Fatalf("%s:%d: cannot parse %q", file, i+1, l)
		}
	}
	endLiteral()
	return d
}

func runDialog(t *testing.T, file string, d dialog) {
	w := newWorld(t)
	w.applyDirectives(t, d.directives)
	addr := w.start(t, func(o *managesieve.Options) {
		_, o.ImplicitTLS = d.directives["implicit-tls"]
		if v, ok := d.directives["max-script-size"]; ok {
			o.MaxScriptSize = int64(atoi(t, v))
		}
		if v, ok := d.directives["max-scripts"]; ok {
			o.MaxScripts = atoi(t, v)
		}
		if v, ok := d.directives["extensions"]; ok {
			o.Sieve.Extensions = strings.Fields(v)
		}
	})
	c := dial(t, addr)
	if _, ok := d.directives["implicit-tls"]; ok {
		c.Handshake()
	}
	if _, ok := d.directives["logged-in"]; ok {
		c.untilOK()
		c.login(userAddr, userPass)
	} else if _, ok := d.directives["greeted"]; ok {
		c.untilOK()
	}
	lastCmd := ""
	for _, st := range d.steps {
		where := fmt.Sprintf("%s:%d", file, st.line)
		if st.client {
			if _, err := io.WriteString(c.Conn, st.text); err != nil {
				t.Fatalf("%s: send: %v", where, err)
			}
			lastCmd = strings.ToUpper(strings.TrimSpace(st.text))
			continue
		}
		got, err := c.R.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: want %q, read error %v (got %q)", where, st.text, err, got)
		}
		if !strings.HasSuffix(got, "\r\n") {
			t.Fatalf("%s: line %q does not end in CRLF", where, got)
		}
		got = strings.TrimSuffix(got, "\r\n")
		if !linePattern(st.text).MatchString(got) {
			t.Fatalf("%s:\n got  %q\n want %q", where, got, st.text)
		}
		if lastCmd == "STARTTLS" && strings.HasPrefix(got, "OK") {
			c.Handshake()
		}
		lastCmd = ""
	}
	if d.closed {
		l, err := c.R.ReadString('\n')
		if err == nil || l != "" {
			t.Fatalf("%s: connection still open (read %q, %v)", file, l, err)
		}
	}
}

// applyDirectives sets up the directory for a dialog.
func (w *world) applyDirectives(t *testing.T, dirs map[string]string) {
	t.Helper()
	ctx := t.Context()
	off := []string{directory.ServiceManageSieve}
	if _, ok := dirs["account-off"]; ok {
		if _, err := w.Dir.UpdateAccount(ctx, w.user.Address, directory.AccountUpdate{DisabledServices: &off}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := dirs["domain-off"]; ok {
		dom, err := w.Dir.Domain(ctx, "local.test")
		if err != nil {
			t.Fatal(err)
		}
		dom.DisabledServices = off
		if err := w.Dir.UpdateDomain(ctx, dom); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := dirs["account-disabled"]; ok {
		no := false
		if _, err := w.Dir.UpdateAccount(ctx, w.user.Address, directory.AccountUpdate{Enabled: &no}); err != nil {
			t.Fatal(err)
		}
	}
}

var patternToken = regexp.MustCompile(`\{\*\}|\{n\}`)

// linePattern compiles an S: line into an anchored regexp.
func linePattern(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range patternToken.FindAllStringIndex(p, -1) {
		b.WriteString(regexp.QuoteMeta(p[last:m[0]]))
		switch p[m[0]:m[1]] {
		case "{*}":
			b.WriteString(".*")
		case "{n}":
			b.WriteString("[0-9]+")
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(p[last:]) + "$")
	return regexp.MustCompile(b.String())
}

// unescape turns \xHH and \\ into bytes.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			if s[i+1] == '\\' {
				b.WriteByte('\\')
				i++
				continue
			}
			if s[i+1] == 'x' && i+3 < len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
					b.WriteByte(byte(v))
					i += 3
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("directive value %q: %v", s, err)
	}
	return n
}
