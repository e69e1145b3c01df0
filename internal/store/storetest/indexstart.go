package storetest

import (
	"slices"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// ForgetFunc erases the text index of the storage OpenFunc gives t (index rows and the
// driver's index state), as a store that filled its folders before it had a background
// indexer (an older version, or one stopped mid-pass) leaves it. Called while no store
// of t is open.
type ForgetFunc func(t *testing.T)

// RunTextIndexStart checks that a store's background indexer covers, when the store
// opens, the folders its text index is behind on: with the index forgotten while the
// store was closed, every folder is indexed again without a search, so a first body
// search is served by the index (store.TextIndexState reports nothing left).
func RunTextIndexStart(t *testing.T, open OpenFunc, forget ForgetFunc) {
	h := newHarness(t, open)
	if _, ok := h.s.(store.TextIndexState); !ok {
		t.Skip("driver has no text index state (store.TextIndexState is optional)")
	}
	a := h.account("example.com", 1)
	b := h.account("example.net", 2)
	n := store.IndexBatch + 10 // more than one pass
	h.deliverN(a, "", n)
	h.create(a, "Projects")
	h.deliverN(a, "Projects", 3)
	h.deliverN(b, "", 2)
	if err := h.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	forget(t)
	h.s = open(t, h.pub)
	st, ts := h.s.(store.TextIndexState), h.s.(store.TextSearcher) // the same driver as before

	folders := []struct {
		acct store.AccountRef
		name string
		n    int
	}{{a, "INBOX", n}, {a, "Projects", 3}, {b, "INBOX", 2}}
	for _, f := range folders {
		mb := h.mailbox(f.acct, f.name).ID
		left := -1
		for range 3000 { // bounded wait for another goroutine, not a timing assertion
			var err error
			if left, err = st.TextUnindexed(h.ctx, f.acct, mb, f.n); err != nil {
				t.Fatalf("TextUnindexed: %v", err)
			}
			if left == 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if left != 0 {
			t.Fatalf("%v %s: %d of %d messages still unindexed after reopening, without a search", f.acct, f.name, left, f.n)
		}
	}
	// The index answers right: message 7 is in a's INBOX (bodies "Body of message N.").
	uids, err := ts.SearchText(h.ctx, a, h.mailbox(a, "INBOX").ID, store.TextQuery{Needle: "body of message 7."})
	if err != nil || !slices.Equal(uids, []store.UID{7}) {
		t.Fatalf("SearchText after the background index: %v %v, want [7]", uids, err)
	}
}

// testTextIndexImportBelow: messages imported with UIDs below those a search already
// covered (a user move's later rounds) are found by the next search; a driver's "index
// complete" marker must not hide them.
func testTextIndexImportBelow(t *testing.T, h *harness) {
	imp, ok := h.s.(store.Importer)
	ts, ok2 := h.s.(store.TextSearcher)
	if !ok || !ok2 {
		t.Skip("driver is no migration target or has no text index")
	}
	a := h.account("example.com", 1)
	mb := h.create(a, "Moved").ID
	imported := func(uid store.UID, text string) {
		t.Helper()
		err := imp.ImportMessages(h.ctx, a, mb, []store.ImportMessage{{UID: uid, ModSeq: 1,
			InternalDate: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Body: body("Subject: s\r\n\r\n" + text + "\r\n")}})
		if err == nil { // as a move does after its rounds
			err = imp.SetMailboxSync(h.ctx, a, mb, 12, 1)
		}
		if err != nil {
			t.Fatalf("import UID %d: %v", uid, err)
		}
	}
	search := func(needle string) []store.UID {
		t.Helper()
		uids, err := ts.SearchText(h.ctx, a, mb, store.TextQuery{Needle: needle})
		if err != nil {
			t.Fatalf("SearchText %q: %v", needle, err)
		}
		return uids
	}
	imported(10, "alpha words")
	imported(11, "more alpha")
	if got := search("alpha"); !slices.Equal(got, []store.UID{10, 11}) {
		t.Fatalf("search alpha: %v, want [10 11]", got)
	}
	imported(5, "beta words")
	if got := search("beta"); !slices.Equal(got, []store.UID{5}) {
		t.Fatalf("search beta after importing UID 5 below the searched ones: %v, want [5]", got)
	}
	if st, ok := h.s.(store.TextIndexState); ok {
		if n, err := st.TextUnindexed(h.ctx, a, mb, 10); err != nil || n != 0 {
			t.Fatalf("TextUnindexed after the search: %d %v, want 0", n, err)
		}
	}
}
