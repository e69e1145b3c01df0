package pop3server_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/pop3server"
)

// Golden dialogs: testdata/dialogs/*.txt are POP3 sessions written like the RFC examples.
//
//	# comment                 ignored, as are blank lines
//	@ directive [value]       server setup (before the first C:) or "@ closed" (at the end:
//	                          the server must have closed the connection)
//	C: text                   a client line; \xHH and \\ are escapes; CRLF is added
//	S: pattern                the next server line: literal text except {*} (anything),
//	                          {n} (digits) and {uidl} (16 hex digits)
//
// Directives: "insecure" (AllowInsecureAuth), "no-tls" (no TLSConfig), "max-bad N",
// "login-delay SECONDS", "messages 0" (an empty maildrop; the default holds the two
// messages below), "pop3-disabled" (the account's POP3 switch is off in the directory).
//
// After "C: STLS" answered by "+OK", the runner does the TLS handshake.

// The maildrop of every dialog: the RFC 1939 example sizes, 120 and 200 octets.
var dialogMessages = [][]byte{
	[]byte("From: mrose@dbc.mtview.ca.us\r\nSubject: first\r\nX-Pad: xxxxxxxxxxxxxxxxxxxxxxxxxx\r\n\r\nHello.\r\n.a line starting with a dot\r\n"),
	[]byte("From: someone@remote.test\r\nSubject: second\r\nX-Pad: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n\r\nline 1\r\nline 2\r\nline 3\r\n\r\nline 5 after an empty line\r\n.\r\nlast line\r\n"),
}

type dialogStep struct {
	line   int
	client bool
	text   string
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
			d := parseDialog(t, f)
			runDialog(t, f, d)
		})
	}
}

func parseDialog(t *testing.T, file string) dialog {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	d := dialog{directives: map[string]string{}}
	for i, l := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "@ "):
			k, v, _ := strings.Cut(strings.TrimPrefix(l, "@ "), " ")
			if k == "closed" {
				d.closed = true
			} else {
				d.directives[k] = v
			}
		case strings.HasPrefix(l, "C:"), strings.HasPrefix(l, "S:"):
			text := strings.TrimPrefix(l[2:], " ")
			d.steps = append(d.steps, dialogStep{line: i + 1, client: l[0] == 'C', text: text})
		default:
			t.Fatalf("%s:%d: cannot parse %q", file, i+1, l)
		}
	}
	return d
}

func runDialog(t *testing.T, file string, d dialog) {
	w := newWorld(t)
	if _, ok := d.directives["pop3-disabled"]; ok {
		off := []string{directory.ServicePOP3}
		if _, err := w.Dir.UpdateAccount(t.Context(), w.user.Address, directory.AccountUpdate{DisabledServices: &off}); err != nil {
			t.Fatal(err)
		}
	}
	if d.directives["messages"] != "0" {
		w.deliver(t, dialogMessages...)
	}
	addr := w.start(t, func(o *pop3server.Options) {
		_, o.AllowInsecureAuth = d.directives["insecure"]
		if _, ok := d.directives["no-tls"]; ok {
			o.TLSConfig = nil
		}
		if v, ok := d.directives["max-bad"]; ok {
			o.MaxBadCommands = atoi(t, v)
		}
		if v, ok := d.directives["login-delay"]; ok {
			o.LoginDelay = time.Duration(atoi(t, v)) * time.Second
		}
	})
	c := dial(t, addr)
	lastCmd := ""
	for _, st := range d.steps {
		where := fmt.Sprintf("%s:%d", file, st.line)
		if st.client {
			raw := unescape(st.text)
			if _, err := io.WriteString(c.Conn, raw+"\r\n"); err != nil {
				t.Fatalf("%s: send: %v", where, err)
			}
			lastCmd = strings.ToUpper(raw)
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
		if lastCmd == "STLS" && strings.HasPrefix(got, "+OK") {
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

var patternToken = regexp.MustCompile(`\{\*\}|\{n\}|\{uidl\}`)

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
		case "{uidl}":
			b.WriteString("[0-9a-f]{16}")
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

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("directive value %q: %v", s, err)
	}
	return n
}
