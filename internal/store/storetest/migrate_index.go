package storetest

import (
	"testing"
	"time"

	"mailgrid/internal/store"
)

// testImportIndexedInBackground: imported bodies join the target's text index without a
// search (ImportMessages marks the mailbox for the driver's store.IndexQueue), as
// deliveries do.
func testImportIndexedInBackground(t *testing.T, p *pair) {
	st, ok := p.dst.(store.TextIndexState)
	if !ok {
		t.Skip("target has no text index state (store.TextIndexState is optional)")
	}
	a := acct("example.com", 7)
	p.seedAccount(t, a)
	p.copyAll(t, a)
	ctx := t.Context()
	inbox, err := p.dst.Mailbox(ctx, a, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	left := -1
	for range 3000 { // bounded wait for another goroutine, not a timing assertion
		if left, err = st.TextUnindexed(ctx, a, inbox.ID, 1000); err != nil {
			t.Fatalf("TextUnindexed: %v", err)
		}
		if left == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("background indexer left %d imported messages of INBOX unindexed", left)
}
