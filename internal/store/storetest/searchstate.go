package storetest

import (
	"testing"
	"time"

	"mailgrid/internal/store"
)

// testTextUnindexed: store.TextIndexState counts the mailbox's messages without an index
// row, up to the limit; a search indexes them; a new delivery counts again; another
// account's mailbox is not found.
func testTextUnindexed(t *testing.T, h *harness) {
	st, ok := h.s.(store.TextIndexState)
	ts, ok2 := h.s.(store.TextSearcher)
	if !ok || !ok2 {
		t.Skip("driver has no text index state (store.TextIndexState is optional)")
	}
	a := h.account("example.com", 1)
	other := h.account("example.net", 2)
	h.deliverN(a, "", 5)
	inbox := h.mailbox(a, "INBOX").ID
	count := func(limit int) int {
		t.Helper()
		n, err := st.TextUnindexed(h.ctx, a, inbox, limit)
		if err != nil {
			t.Fatalf("TextUnindexed(limit %d): %v", limit, err)
		}
		return n
	}
	// A driver's background indexer may have indexed some already: counts only go down.
	if n := count(100); n > 5 {
		t.Fatalf("TextUnindexed before a search = %d, want at most 5", n)
	}
	if n := count(3); n > 3 {
		t.Fatalf("TextUnindexed(limit 3) = %d, want at most 3", n)
	}
	if n := count(0); n != 0 {
		t.Fatalf("TextUnindexed(limit 0) = %d, want 0", n)
	}
	if _, err := ts.SearchText(h.ctx, a, inbox, store.TextQuery{Needle: "body of"}); err != nil {
		t.Fatalf("SearchText: %v", err)
	}
	if n := count(100); n != 0 {
		t.Fatalf("TextUnindexed after a search = %d, want 0", n)
	}
	h.deliver(a, "", h.message())
	if n := count(100); n > 1 {
		t.Fatalf("TextUnindexed after one delivery = %d, want at most 1", n)
	}
	if _, err := ts.SearchText(h.ctx, a, inbox, store.TextQuery{Needle: "x"}); err != nil {
		t.Fatalf("SearchText: %v", err)
	}
	if n := count(100); n != 0 {
		t.Fatalf("TextUnindexed after the second search = %d, want 0", n)
	}
	_, err := st.TextUnindexed(h.ctx, other, inbox, 10)
	wantErr(t, "TextUnindexed of another account's mailbox", err, store.ErrNotFound)
}

// testTextIndexBackground: deliveries get indexed without a search (the driver's
// store.IndexQueue), more than one pass's worth of them.
func testTextIndexBackground(t *testing.T, h *harness) {
	st, ok := h.s.(store.TextIndexState)
	if !ok {
		t.Skip("driver has no text index state (store.TextIndexState is optional)")
	}
	a := h.account("example.com", 1)
	n := store.IndexBatch + 10
	h.deliverN(a, "", n)
	inbox := h.mailbox(a, "INBOX").ID
	left := -1
	for range 3000 { // bounded wait for another goroutine, not a timing assertion
		var err error
		if left, err = st.TextUnindexed(h.ctx, a, inbox, n); err != nil {
			t.Fatalf("TextUnindexed: %v", err)
		}
		if left == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("background indexer left %d of %d messages unindexed", left, n)
}
