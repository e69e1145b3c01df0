package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return crlf(b)
}

// section returns the raw bytes of a part's header and body.
func section(raw []byte, p *Part) (hdr, body string) {
	return string(raw[p.HeaderStart:p.BodyStart]), string(raw[p.BodyStart:p.End])
}

func TestParseFieldsAndOffsets(t *testing.T) {
	raw := readTestdata(t, "nested-rfc822.eml")
	info := parseBytes(t, raw)

	if info.Subject != "Fwd: Newsletter" || info.From != "Bob <bob@example.com>" || info.Malformed {
		t.Fatalf("subject %q from %q malformed %v", info.Subject, info.From, info.Malformed)
	}
	if info.Date.IsZero() || info.Date.UTC().Hour() != 10 {
		t.Fatalf("date %v", info.Date)
	}
	root := &info.Structure
	if root.Type != "multipart" || root.Subtype != "mixed" || len(root.Children) != 2 {
		t.Fatalf("root %s/%s with %d children", root.Type, root.Subtype, len(root.Children))
	}
	// BODY[1]: RFC 2046 5.1.1, the CRLF before the delimiter is not part of the body.
	p1, ok := root.Find(1)
	if _, body := section(raw, p1); !ok || body != "Forwarding this." || p1.Lines != 1 {
		t.Fatalf("BODY[1] = %q lines %d", body, p1.Lines)
	}
	// BODY[2.MIME], BODY[2.HEADER], BODY[2.TEXT], BODY[2.1], BODY[2.2].
	p2, _ := root.Find(2)
	if hdr, _ := section(raw, p2); hdr != "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n" {
		t.Fatalf("BODY[2.MIME] = %q", hdr)
	}
	if p2.Envelope == nil || p2.Envelope.Subject != "Newsletter" || p2.Envelope.MessageID != "<news-42@example.org>" {
		t.Fatalf("nested envelope %+v", p2.Envelope)
	}
	hdr, text := section(raw, p2.Message)
	if !strings.HasPrefix(hdr, "From: news@example.org\r\n") || !strings.HasSuffix(hdr, "\r\n\r\n") {
		t.Fatalf("BODY[2.HEADER] = %q", hdr)
	}
	if !strings.HasPrefix(text, "--alt-2\r\n") || !strings.HasSuffix(text, "--alt-2--\r\n") {
		t.Fatalf("BODY[2.TEXT] = %q", text)
	}
	p21, _ := root.Find(2, 1)
	p22, _ := root.Find(2, 2)
	if _, b := section(raw, p21); b != "plain news" {
		t.Fatalf("BODY[2.1] = %q", b)
	}
	if _, b := section(raw, p22); b != "<p>html news</p>" || p22.Subtype != "html" {
		t.Fatalf("BODY[2.2] = %q (%s)", b, p22.Subtype)
	}
	if _, ok := root.Find(3); ok {
		t.Fatal("Find(3) found a part that does not exist")
	}
	if _, ok := root.Find(1, 2); ok {
		t.Fatal("Find(1, 2) in a leaf")
	}
	if p, ok := root.Find(1, 1); !ok || p != p1 {
		t.Fatal("Find(1, 1): a leaf's part 1 is itself")
	}
}

func TestParseEnvelopeDefaults(t *testing.T) {
	raw := readTestdata(t, "encoded-words.eml")
	env := parseBytes(t, raw).Envelope
	// RFC 9051 7.5.2: Sender and Reply-To default to From.
	if len(env.Sender) != 1 || env.Sender[0] != env.From[0] || env.ReplyTo[0] != env.From[0] {
		t.Fatalf("sender %v reply-to %v from %v", env.Sender, env.ReplyTo, env.From)
	}
	if env.From[0] != (Address{Name: "André Müller", Mailbox: "andre", Host: "example.de"}) {
		t.Fatalf("from %+v", env.From[0])
	}
	// Subject stays raw in the envelope; IMAP sends it as it is.
	if !strings.HasPrefix(env.Subject, "=?UTF-8?B?") {
		t.Fatalf("envelope subject %q", env.Subject)
	}
	if len(env.Cc) != 2 || env.Cc[1].Name != "Jörg" {
		t.Fatalf("cc (group syntax) %+v", env.Cc)
	}
}

func TestParseMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		shape     string
		malformed bool
	}{
		{"boundary missing", "Content-Type: multipart/mixed\r\n\r\nbody\r\n", "text/plain", true},
		{"bad content-type", "Content-Type: garbage\r\n\r\nbody\r\n", "text/plain", true},
		{"empty multipart", "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x--\r\n", "text/plain", true},
		{"header line without colon", "Subject: a\r\nnot a header\r\n\r\nbody", "text/plain", true},
		{"delimiter inside part header", "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n--x--\r\n", "multipart/mixed(text/plain)", true},
		{"loose params", "Content-Type: multipart/mixed; boundary==_x?y; charset=\"a\r\n\r\n--=_x?y\r\n\r\nhi\r\n--=_x?y--\r\n", "multipart/mixed(text/plain)", false},
		{"transport padding", "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x \t\r\n\r\nhi\r\n--x--  \r\n", "multipart/mixed(text/plain)", false},
		{"base64 message/rfc822 is opaque", "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp4\r\n", "message/rfc822", false},
		{"empty", "", "text/plain", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := parseBytes(t, []byte(tc.raw))
			checkInvariants(t, []byte(tc.raw), info)
			if got := shape(&info.Structure); got != tc.shape || info.Malformed != tc.malformed {
				t.Fatalf("shape %s malformed %v, want %s %v", got, info.Malformed, tc.shape, tc.malformed)
			}
		})
	}
}

// TestParseDepthBomb nests far deeper than MaxDepth, with multiparts and with messages.
func TestParseDepthBomb(t *testing.T) {
	const levels = 2000
	var mp, msg bytes.Buffer
	for i := range levels {
		fmt.Fprintf(&mp, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
		msg.WriteString("Subject: x\r\nContent-Type: message/rfc822\r\n\r\n")
	}
	mp.WriteString("\r\ncore\r\n")
	msg.WriteString("\r\ncore\r\n")
	for i := levels - 1; i >= 0; i-- {
		fmt.Fprintf(&mp, "--b%d--\r\n", i)
	}
	for name, raw := range map[string][]byte{"multipart": mp.Bytes(), "message": msg.Bytes()} {
		t.Run(name, func(t *testing.T) {
			info := parseBytes(t, raw)
			checkInvariants(t, raw, info)
			depth := 0
			for p := &info.Structure; ; depth++ {
				if p.Message != nil {
					p = p.Message
				} else if len(p.Children) > 0 {
					p = &p.Children[0]
				} else {
					break
				}
			}
			if depth >= MaxDepth {
				t.Fatalf("tree depth %d, limit %d", depth, MaxDepth)
			}
			if name == "multipart" && !info.Malformed {
				t.Fatal("truncated nesting not reported as malformed")
			}
		})
	}
}

func TestParsePartBomb(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
	for range MaxParts + 500 {
		b.WriteString("--x\r\n\r\na\r\n")
	}
	b.WriteString("--x--\r\n")
	info := parseBytes(t, b.Bytes())
	checkInvariants(t, b.Bytes(), info)
	if n := len(info.Structure.Children); n >= MaxParts || n < MaxParts-10 || !info.Malformed {
		t.Fatalf("%d children (limit %d), malformed %v", n, MaxParts, info.Malformed)
	}
}

// genMessage is an io.ReaderAt over a message with a huge base64 attachment, generated on
// the fly so the test itself holds nothing.
type genMessage struct {
	head, line, tail string
	lines            int64
}

func (g *genMessage) Size() int64 {
	return int64(len(g.head)) + g.lines*int64(len(g.line)) + int64(len(g.tail))
}

func (g *genMessage) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) && off < g.Size() {
		var src string
		var at int64
		switch body := g.lines * int64(len(g.line)); {
		case off < int64(len(g.head)):
			src, at = g.head, off
		case off < int64(len(g.head))+body:
			src, at = g.line, (off-int64(len(g.head)))%int64(len(g.line))
		default:
			src, at = g.tail, off-int64(len(g.head))-body
		}
		c := copy(p[n:], src[at:])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestParseStreams parses a 64 MiB attachment and asserts the parser allocated a small
// fraction of it: bodies are counted, never held.
func TestParseStreams(t *testing.T) {
	g := &genMessage{
		head:  "Subject: big\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		line:  strings.Repeat("QUJD", 19) + "\r\n",
		tail:  "\r\n--z--\r\n",
		lines: (64 << 20) / 78,
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	info, err := Parse(g, g.Size())
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	att := info.Structure.Children[0]
	if att.Size != g.lines*int64(len(g.line)) || att.End != g.Size()-int64(len(g.tail)) {
		t.Fatalf("attachment size %d end %d", att.Size, att.End)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("Parse allocated %d bytes for a %d byte message", alloc, g.Size())
	}
}

func TestParseLongLines(t *testing.T) {
	long := strings.Repeat("x", 3*scanBufSize+17)
	raw := "Subject: " + long + "\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\n" +
		long + "\r\n--q-- not a delimiter " + long + "\r\n--q--\r\n"
	info := parseBytes(t, []byte(raw))
	checkInvariants(t, []byte(raw), info)
	if info.Subject != long || len(info.Structure.Children) != 1 {
		t.Fatalf("subject length %d, %d children", len(info.Subject), len(info.Structure.Children))
	}
	if _, body := section([]byte(raw), &info.Structure.Children[0]); body != long+"\r\n--q-- not a delimiter "+long {
		t.Fatalf("body of %d bytes", len(body))
	}
	if c := info.Structure.Children[0]; c.Lines != 2 {
		t.Fatalf("lines %d", c.Lines)
	}
}

type failingReader struct {
	data  []byte
	after int64
}

var errDisk = errors.New("disk on fire")

func (f *failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.after {
		return 0, errDisk
	}
	return copy(p, f.data[off:]), nil
}

func TestParseReadErrors(t *testing.T) {
	raw := readTestdata(t, "simple.eml")
	if _, err := Parse(&failingReader{data: raw, after: 100}, int64(len(raw))); !errors.Is(err, errDisk) {
		t.Fatalf("read error: got %v", err)
	}
	// A reader shorter than the size claimed is a read error, not a short message.
	if _, err := Parse(bytes.NewReader(raw[:200]), int64(len(raw))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short reader: got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(crlf(b))
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n\r\n--a--"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		info, err := Parse(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		checkInvariants(t, raw, info)
		checkJSON(t, info)
	})
}
