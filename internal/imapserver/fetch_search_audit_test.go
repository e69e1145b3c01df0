package imapserver_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/imapserver"
	"mailgrid/internal/store"
	storesqlite "mailgrid/internal/store/sqlite"
)

// fetchItems splits the data of one "* n FETCH (...)" response (as client.line returns
// it: a literal {n} is followed by "\n" and its octets) into its items, in order.
func fetchItems(t *testing.T, line string) (names []string, vals map[string]string) {
	t.Helper()
	i := strings.Index(line, " FETCH (")
	if i < 0 || !strings.HasSuffix(line, ")") {
		t.Fatalf("not a FETCH response: %q", line)
	}
	s := line[i+len(" FETCH (") : len(line)-1]
	vals = map[string]string{}
	for pos := 0; pos < len(s); {
		sp := strings.IndexByte(s[pos:], ' ')
		if sp < 0 {
			t.Fatalf("item without a value at %d in %q", pos, s)
		}
		name := s[pos : pos+sp]
		pos += sp + 1
		end := skipValue(t, s, pos)
		names = append(names, name)
		vals[name] = s[pos:end]
		pos = end
		if pos < len(s) {
			if s[pos] != ' ' {
				t.Fatalf("expected a space at %d in %q", pos, s)
			}
			pos++
		}
	}
	return names, vals
}

// skipValue returns the end of the value (atom, quoted string, literal or parenthesized
// list) that starts at s[i].
func skipValue(t *testing.T, s string, i int) int {
	t.Helper()
	switch {
	case i >= len(s):
		t.Fatalf("value expected at the end of %q", s)
	case s[i] == '(':
		i++
		for i < len(s) && s[i] != ')' {
			if s[i] == ' ' {
				i++
				continue
			}
			i = skipValue(t, s, i)
		}
		if i >= len(s) {
			t.Fatalf("unbalanced list in %q", s)
		}
		return i + 1
	case s[i] == '"':
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		t.Fatalf("unterminated quoted string in %q", s)
	case s[i] == '{':
		j := strings.Index(s[i:], "}\n")
		n, err := strconv.Atoi(s[i+1 : i+j])
		if j < 0 || err != nil {
			t.Fatalf("bad literal at %d in %q", i, s)
		}
		return i + j + 2 + n
	}
	j := i
	for j < len(s) && s[j] != ' ' && s[j] != ')' {
		j++
	}
	return j
}

// literalValue returns the octets of a literal value "{n}\n...".
func literalValue(t *testing.T, v string) string {
	t.Helper()
	_, data, ok := strings.Cut(v, "}\n")
	if !strings.HasPrefix(v, "{") || !ok {
		t.Fatalf("not a literal: %q", v)
	}
	return data
}

// TestFetchMacrosAndRFC822Text: the macros ALL, FAST and FULL expand to exactly their
// items (RFC 9051 6.4.5: ALL = FLAGS INTERNALDATE RFC822.SIZE ENVELOPE, FAST = FLAGS
// INTERNALDATE RFC822.SIZE, FULL = ALL BODY) with the right values and set no flag;
// RFC822.TEXT (RFC 3501 6.4.5, kept for IMAP4rev1 clients: RFC 9051 Appendix E) returns
// the body without the header, as BODY[TEXT] does, and sets \Seen.
func TestFetchMacrosAndRFC822Text(t *testing.T) {
	w := newWorld(t)
	const body = "line one\nline two\n"
	msg := "Date: Fri, 13 Mar 2026 10:00:00 +0000\nFrom: Alice <alice@example.org>\n" +
		"To: bob@example.org\nSubject: macros\nMessage-ID: <m1@example.org>\n\n" + body
	w.deliver(t, w.user, "INBOX", msg)
	_, addr := w.server(t, nil)
	c := login(t, addr)
	c.ok("SELECT INBOX")

	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	want := map[string]string{
		"FLAGS":        "()",
		"INTERNALDATE": `"14-Mar-2026 15:09:26 +0100"`,
		"RFC822.SIZE":  strconv.Itoa(len(crlf(msg))),
		"ENVELOPE": `("Fri, 13 Mar 2026 10:00:00 +0000" "macros" (("Alice" NIL "alice" "example.org")) ` +
			`(("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) ` +
			`((NIL NIL "bob" "example.org")) NIL NIL NIL "<m1@example.org>")`,
		"BODY": `("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 20 2)`,
	}
	for _, m := range []struct{ macro, items string }{
		{"ALL", "ENVELOPE FLAGS INTERNALDATE RFC822.SIZE"},
		{"FAST", "FLAGS INTERNALDATE RFC822.SIZE"},
		{"FULL", "BODY ENVELOPE FLAGS INTERNALDATE RFC822.SIZE"},
	} {
		u := c.ok("FETCH 1 " + m.macro)
		if len(u) != 1 {
			t.Fatalf("FETCH %s: %q", m.macro, u)
		}
		names, vals := fetchItems(t, u[0])
		if got := strings.Join(sortedCopy(names), " "); got != m.items {
			t.Errorf("FETCH %s returned %s, want %s", m.macro, got, m.items)
		}
		for _, n := range names {
			// The body structure's type, subtype, parameter and encoding strings are
			// case-insensitive (RFC 9051 7.5.2); the other values are compared exactly.
			if vals[n] != want[n] && (n != "BODY" || !strings.EqualFold(vals[n], want[n])) {
				t.Errorf("FETCH %s: %s = %s, want %s", m.macro, n, vals[n], want[n])
			}
		}
	}

	u := c.ok("FETCH 1 RFC822.TEXT")
	if len(u) != 1 {
		t.Fatalf("FETCH RFC822.TEXT: %q", u)
	}
	names, vals := fetchItems(t, u[0])
	if got := strings.Join(sortedCopy(names), " "); got != "FLAGS RFC822.TEXT" {
		t.Errorf("FETCH RFC822.TEXT returned %s, want RFC822.TEXT and the new FLAGS", got)
	}
	if got := literalValue(t, vals["RFC822.TEXT"]); got != crlf(body) {
		t.Errorf("RFC822.TEXT = %q, want %q", got, crlf(body))
	}
	if vals["FLAGS"] != `(\Seen)` {
		t.Errorf("FLAGS with RFC822.TEXT = %s, want (\\Seen)", vals["FLAGS"])
	}
	if u := c.ok("FETCH 1 BODY.PEEK[TEXT]"); len(u) != 1 || !strings.HasSuffix(u[0], "\n"+crlf(body)+")") {
		t.Errorf("BODY[TEXT] differs from RFC822.TEXT: %q", u)
	}
}

// TestSearchFlagAndSentDateKeys: DRAFT, UNDRAFT, NEW, OLD, RECENT and the SENT* keys each
// select a known subset (RFC 9051 6.4.4, RFC 3501 6.4.4 for NEW, OLD and RECENT). There
// is no \Recent here (RFC 9051 removed it), so RECENT and NEW (RECENT UNSEEN) match
// nothing and OLD everything. SENTON, SENTBEFORE and SENTSINCE compare the Date header's
// own day, disregarding time and time zone (message 2 is the 13th in UTC but the 12th in
// its zone); without a Date header the internal date is used (14-Mar-2026, as Dovecot).
func TestSearchFlagAndSentDateKeys(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, w.user, "INBOX", "Date: Tue, 10 Mar 2026 09:00:00 +0000\nSubject: one\n\nb\n", `\Draft`)
	w.deliver(t, w.user, "INBOX", "Date: Thu, 12 Mar 2026 23:30:00 -0500\nSubject: two\n\nb\n", `\Seen`)
	w.deliver(t, w.user, "INBOX", "Date: Sat, 14 Mar 2026 08:00:00 +0000\nSubject: three\n\nb\n", `\Draft`, `\Seen`)
	w.deliver(t, w.user, "INBOX", "Subject: four, no date\n\nb\n")
	_, addr := w.server(t, nil)
	c := login(t, addr)
	c.ok("SELECT INBOX")
	for _, q := range []struct{ keys, want string }{
		{"DRAFT", "1 3"},
		{"UNDRAFT", "2 4"},
		{"NEW", ""},
		{"RECENT", ""},
		{"NOT NEW", "1 2 3 4"},
		{"OLD", "1 2 3 4"},
		{"UNSEEN NOT RECENT", "1 4"},
		{"SENTON 12-Mar-2026", "2"},
		{"SENTON 13-Mar-2026", ""},
		{"SENTON 14-Mar-2026", "3 4"},
		{"SENTBEFORE 12-Mar-2026", "1"},
		{"SENTBEFORE 13-Mar-2026", "1 2"},
		{"SENTSINCE 12-Mar-2026", "2 3 4"},
		{"SENTSINCE 15-Mar-2026", ""},
		{"DRAFT SENTSINCE 11-Mar-2026", "3"},
		{"OR DRAFT SENTON 12-Mar-2026", "1 2 3"},
	} {
		for _, cmd := range []string{"SEARCH ", "UID SEARCH "} {
			u := c.ok(cmd + q.keys)
			want := strings.TrimSpace("* SEARCH " + q.want)
			if len(u) != 1 || u[0] != want {
				t.Errorf("%s%s: %q, want %q", cmd, q.keys, u, want)
			}
		}
	}
}

// textCountingStore is the real SQLite store, counting the text index lookups and the
// message bodies opened through it.
type textCountingStore struct {
	*storesqlite.Store
	texts, blobs atomic.Int64
}

func (s *textCountingStore) SearchText(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, q store.TextQuery) ([]store.UID, error) {
	s.texts.Add(1)
	return s.Store.SearchText(ctx, acct, mbox, q)
}

func (s *textCountingStore) OpenBlob(ctx context.Context, acct store.AccountRef, id int64) (store.Blob, error) {
	s.blobs.Add(1)
	return s.Store.OpenBlob(ctx, acct, id)
}

// TestSearchTextUsesIndex: on a store with a text index, BODY and TEXT are answered by
// one index lookup per key and no message body is opened (doc.go, search_index.go), so a
// silent fallback to scanning fails here; TestSearchTextIndex checks that both give the
// same answers. The scanning store (scanOnly) is the control: it opens the bodies.
func TestSearchTextUsesIndex(t *testing.T) {
	w := newWorld(t)
	for i := 1; i <= 6; i++ {
		word := []string{"apple", "cherry"}[i%2]
		w.deliver(t, w.user, "INBOX", fmt.Sprintf("From: s%d@example.org\nSubject: note %d\n\n%s pie %d\n", i, i, word, i))
	}
	cs := &textCountingStore{Store: w.st}
	_, addr := w.server(t, func(o *imapserver.Options) { o.Shards = shards{directory.LocalShard: cs} })
	_, scanAddr := w.server(t, func(o *imapserver.Options) {
		o.Shards = shards{directory.LocalShard: scanOnly{cs}}
	})
	c, sc := login(t, addr), login(t, scanAddr)
	c.ok("SELECT INBOX")
	sc.ok("SELECT INBOX")
	for _, q := range []struct {
		search, want string
		lookups      int64
	}{
		{"UID SEARCH BODY apple", "* SEARCH 2 4 6", 1},
		{"UID SEARCH TEXT s3@example.org", "* SEARCH 3", 1},
		{"UID SEARCH OR BODY cherry TEXT \"note 2\"", "* SEARCH 1 2 3 5", 2},
		{"UID SEARCH NOT BODY apple", "* SEARCH 1 3 5", 1},
		{"UID SEARCH BODY pie UNSEEN", "* SEARCH 1 2 3 4 5 6", 1},
	} {
		cs.texts.Store(0)
		cs.blobs.Store(0)
		u := c.ok(q.search)
		if len(u) != 1 || u[0] != q.want {
			t.Errorf("%s: %q, want %q", q.search, u, q.want)
		}
		if n := cs.texts.Load(); n != q.lookups {
			t.Errorf("%s: %d index lookups, want %d", q.search, n, q.lookups)
		}
		if n := cs.blobs.Load(); n != 0 {
			t.Errorf("%s: %d bodies opened on an indexed mailbox, want none", q.search, n)
		}

		cs.texts.Store(0)
		cs.blobs.Store(0)
		if u := sc.ok(q.search); len(u) != 1 || u[0] != q.want {
			t.Errorf("%s by scanning: %q, want %q", q.search, u, q.want)
		}
		if cs.texts.Load() != 0 || cs.blobs.Load() == 0 {
			t.Errorf("%s: the scanning control made %d lookups and opened %d bodies", q.search, cs.texts.Load(), cs.blobs.Load())
		}
	}
}
