package message

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// body is store.Body, restated so the package need not import store (a core package):
// Spool must satisfy it.
type body interface {
	io.ReaderAt
	Size() int64
}

var _ body = (*Spool)(nil)

func spoolFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestSpoolAcrossMemoryLimit(t *testing.T) {
	const limit = 64
	for _, n := range []int{0, 1, limit - 1, limit, limit + 1, 10 * limit, 1 << 20} {
		dir := t.TempDir()
		data := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		sp := NewSpool(dir, limit)
		// Write in uneven chunks so the spill happens mid-write.
		for rest := data; len(rest) > 0; {
			k := min(len(rest), 7+len(rest)%4093)
			if w, err := sp.Write(rest[:k]); err != nil || w != k {
				t.Fatalf("n=%d: Write = %d, %v", n, w, err)
			}
			rest = rest[k:]
		}
		if sp.Size() != int64(n) || sp.InMemory() != (n <= limit) {
			t.Fatalf("n=%d: Size %d InMemory %v", n, sp.Size(), sp.InMemory())
		}
		// The file is unlinked as soon as it is created: nothing is visible in dir.
		if got := spoolFiles(t, dir); got != 0 {
			t.Fatalf("n=%d: %d files in spool dir", n, got)
		}
		if n <= 10*limit { // iotest reads byte by byte: keep it to small sizes
			if err := iotest.TestReader(sp.Reader(), data); err != nil {
				t.Fatalf("n=%d: Reader: %v", n, err)
			}
		}
		if got, err := io.ReadAll(sp.Reader()); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("n=%d: Reader content differs (%v)", n, err)
		}
		got, err := io.ReadAll(io.NewSectionReader(sp, 0, sp.Size()))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("n=%d: ReadAt content differs (%v)", n, err)
		}
		checkReadAt(t, sp, data)
		if err := sp.Close(); err != nil {
			t.Fatalf("n=%d: Close: %v", n, err)
		}
		if err := sp.Close(); err != nil {
			t.Fatalf("n=%d: second Close: %v", n, err)
		}
		if _, err := sp.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrSpoolClosed) {
			t.Fatalf("n=%d: ReadAt after Close: %v", n, err)
		}
		if _, err := sp.Write([]byte("x")); !errors.Is(err, ErrSpoolClosed) {
			t.Fatalf("n=%d: Write after Close: %v", n, err)
		}
	}
}

// checkReadAt asserts the io.ReaderAt contract at the edges.
func checkReadAt(t *testing.T, sp *Spool, data []byte) {
	t.Helper()
	n := int64(len(data))
	buf := make([]byte, 10)
	if k, err := sp.ReadAt(buf, n); k != 0 || err != io.EOF {
		t.Fatalf("ReadAt at end = %d, %v", k, err)
	}
	if n >= 5 {
		k, err := sp.ReadAt(buf, n-5)
		if k != 5 || err != io.EOF || !bytes.Equal(buf[:5], data[n-5:]) {
			t.Fatalf("short ReadAt = %d, %v", k, err)
		}
	}
	if n >= 10 {
		if k, err := sp.ReadAt(buf, n-10); k != 10 || err != nil {
			t.Fatalf("exact ReadAt = %d, %v", k, err)
		}
	}
	if _, err := sp.ReadAt(buf, -1); err == nil {
		t.Fatal("ReadAt at a negative offset succeeded")
	}
}

func TestSpoolParse(t *testing.T) {
	raw := readTestdata(t, "mixed-attachment.eml")
	sp := NewSpool(t.TempDir(), 100)
	defer func() {
		if err := sp.Close(); err != nil {
			t.Error(err)
		}
	}()
	if _, err := io.Copy(sp, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	info, err := Parse(sp, sp.Size())
	if err != nil {
		t.Fatal(err)
	}
	if want := parseBytes(t, raw); shape(&info.Structure) != shape(&want.Structure) || info.Structure.End != want.Structure.End {
		t.Fatalf("spooled parse differs")
	}
}

func TestSpoolBadDir(t *testing.T) {
	sp := NewSpool(t.TempDir()+"/missing", 4)
	if _, err := sp.Write([]byte("1234")); err != nil {
		t.Fatalf("write within memory: %v", err)
	}
	if _, err := sp.Write([]byte("5")); err == nil {
		t.Fatal("spill into a missing directory succeeded")
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAppendField(t *testing.T) {
	got := string(AppendField(nil, "Subject", "short"))
	if got != "Subject: short\r\n" {
		t.Fatalf("%q", got)
	}
	long := "from client.example (client.example [192.0.2.7]) by mx.example.com (mailgrid) with ESMTPS id 4f2a for <bob@example.com>; Mon, 07 Oct 2024 10:00:00 +0000"
	got = string(AppendField(nil, "Received", long))
	lines := strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n")
	if len(lines) < 2 {
		t.Fatalf("not folded: %q", got)
	}
	for i, l := range lines {
		if len(l) > foldWidth {
			t.Fatalf("line %d has %d chars: %q", i, len(l), l)
		}
		if i > 0 && l[0] != ' ' {
			t.Fatalf("continuation without WSP: %q", l)
		}
	}
	// Unfolding (RFC 5322 2.2.3: remove each CRLF) must give back the value exactly.
	if unfolded := strings.ReplaceAll(strings.TrimSuffix(got, "\r\n"), "\r\n", ""); unfolded != "Received: "+long {
		t.Fatalf("unfolded %q", unfolded)
	}
	// No header injection through CR/LF.
	got = string(AppendField(nil, "X-Test", "a\r\nBcc: victim@example.com"))
	if strings.Count(got, "\r\n") != 1 || !strings.HasSuffix(got, "\r\n") {
		t.Fatalf("injection: %q", got)
	}
	// A field Parse reads back.
	raw := string(AppendField(AppendField(nil, "Message-ID", NewMessageID("mx.example.com")), "Subject", long)) + "\r\nbody"
	info := parseBytes(t, []byte(raw))
	if info.Subject != long || !strings.HasSuffix(info.MessageID, "@mx.example.com") {
		t.Fatalf("parsed back: subject %q id %q", info.Subject, info.MessageID)
	}
}

func TestNewMessageIDAndDate(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewMessageID("example.com")
		if seen[id] || !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	raw := "Date: " + FormatDate(timeFixture()) + "\r\n\r\n"
	info := parseBytes(t, []byte(raw))
	if !info.Date.Equal(timeFixture()) {
		t.Fatalf("FormatDate %q parsed back as %v", raw, info.Date)
	}
}

func timeFixture() time.Time {
	return time.Date(2024, 10, 7, 9, 5, 3, 0, time.FixedZone("", -4*3600))
}
