package imapserver_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/imapserver"
	"mailgrid/internal/store"
	storesqlite "mailgrid/internal/store/sqlite"
)

// countingStore is the SQLite store (with its text index and header text) counting the
// message rows read through Messages.
type countingStore struct {
	*storesqlite.Store
	reads atomic.Int64
}

func (c *countingStore) Messages(ctx context.Context, a store.AccountRef, m store.MailboxID, q store.Query, fn func(store.Message) error) error {
	return c.Store.Messages(ctx, a, m, q, func(msg store.Message) error {
		c.reads.Add(1)
		return fn(msg)
	})
}

// TestSearchHeaderIndex: FROM, TO, CC, BCC and SUBJECT answered from the store's header
// text (store.HeaderSearcher) give what the evaluation over Meta gives (a server whose
// store hides the interface), alone, with flags, under OR and NOT, with sequence sets and
// for a needle the text cannot answer (a literal with a line feed); and "FROM x UNSEEN"
// reads no message row once the mailbox cache holds the flags.
func TestSearchHeaderIndex(t *testing.T) {
	w := newWorld(t)
	msgs := []string{
		"From: Alice Example <ALICE@Example.org>\nTo: bob@example.com, \"Carol C.\" <carol@example.net>\nSubject: Quarterly report\n\nx\n",
		"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>\nTo: Team: dave@example.com, eve@example.com;\nCc: Frank <frank@example.org>, grace@example.org\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\n\nx\n",
		"From: bob@example.com\nBcc: Secret Sharer <hidden@example.org>\nSubject: Re: Quarterly REPORT (fwd)\n\nx\n",
		"To: nobody@example.com\nSubject: no from at all\n\nx\n",
		"From: Alice Example <alice@example.org>\nCc: ALICE@EXAMPLE.ORG\nSubject: ΣΊΣΥΦΟΣ and alice\n\nx\n",
	}
	for i := range 4 {
		for j, m := range msgs {
			var flags []string
			if (i+j)%3 == 0 {
				flags = []string{store.FlagSeen}
			}
			w.deliver(t, w.user, "INBOX", m, flags...)
		}
	}
	cs := &countingStore{Store: w.st}
	_, indexed := w.server(t, func(o *imapserver.Options) { o.Shards = shards{directory.LocalShard: cs} })
	_, scanned := w.server(t, func(o *imapserver.Options) {
		o.Shards = shards{directory.LocalShard: scanOnly{w.st}}
	})
	ci, cn := login(t, indexed), login(t, scanned)
	ci.ok("SELECT INBOX")
	cn.ok("SELECT INBOX")
	lit := func(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) } // 8-bit needles
	queries := []string{
		"UID SEARCH FROM alice", "UID SEARCH FROM \"ALICE@example\"", "UID SEARCH FROM \"lice e\"",
		"UID SEARCH FROM \"<bob@\"", "UID SEARCH FROM " + lit("jürgen"), "UID SEARCH FROM \"\"",
		"UID SEARCH TO \"carol c.\"", "UID SEARCH TO team", "UID SEARCH TO dave", "UID SEARCH TO \", \"",
		"UID SEARCH CC \"frank <frank\"", "UID SEARCH CC alice", "UID SEARCH CC \"\"",
		"UID SEARCH BCC secret", "UID SEARCH BCC \"\"",
		"UID SEARCH SUBJECT report", "UID SEARCH SUBJECT \"re: quarterly\"", "UID SEARCH SUBJECT " + lit("GRÜSSE"), "UID SEARCH SUBJECT " + lit("grüße"),
		"UID SEARCH SUBJECT \"=?utf-8?q?\"", "UID SEARCH SUBJECT " + lit("σίσυφος"),
		"UID SEARCH FROM alice UNSEEN", "UID SEARCH FROM bob SEEN", "UID SEARCH OR FROM bob CC alice",
		"UID SEARCH NOT FROM alice", "SEARCH FROM alice 3:12", "UID SEARCH UID 5:15 SUBJECT report",
		"UID SEARCH FROM alice SUBJECT report", "UID SEARCH RETURN (COUNT MIN MAX) TO example",
		"UID SEARCH FROM {6+}\r\nalice\n", "UID SEARCH FROM nothing-like-this",
	}
	for _, q := range queries {
		ui, un := ci.ok(q), cn.ok(q)
		if strings.Join(ui, "\n") != strings.Join(un, "\n") {
			t.Errorf("%s: header text and Meta differ:\ntext %.300q\nmeta %.300q", q, ui, un)
		}
	}
	if u := ci.ok("UID SEARCH FROM alice"); !contains(u, "SEARCH 1 5 6 10 11 15 16 20") {
		t.Errorf("FROM alice: %q", u)
	}
	before := cs.reads.Load()
	for range 3 {
		ci.ok("UID SEARCH FROM alice UNSEEN")
		ci.ok("UID SEARCH SUBJECT report SEEN")
	}
	if n := cs.reads.Load() - before; n != 0 {
		t.Errorf("header and flag searches read %d message rows, want 0", n)
	}
}
