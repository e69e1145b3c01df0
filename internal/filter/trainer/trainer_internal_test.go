package trainer

import (
	"slices"
	"testing"

	"mailgrid/internal/store"
)

// Only a move or a judgement keyword can be a judgement: plain deliveries, appends, flag
// changes and expunges are never queued (they filled the queue under load and pushed real
// judgements out).
func TestCandidates(t *testing.T) {
	a := store.AccountRef{Domain: "a.test", ID: 1}
	b := store.AccountRef{Domain: "b.test", ID: 1}
	add := func(acct store.AccountRef, flags ...string) store.Change {
		return store.Change{Kind: store.MessageAdded, Account: acct, Mailbox: 1, UID: 1, Flags: flags}
	}
	exp := store.Change{Kind: store.MessageExpunged, Account: a, Mailbox: 2, UID: 7}
	flags := func(fl ...string) store.Change {
		return store.Change{Kind: store.FlagsChanged, Account: a, Mailbox: 1, UID: 1, Flags: fl}
	}
	for _, c := range []struct {
		name string
		in   []store.Change
		want int
	}{
		{"delivery", []store.Change{add(a), add(b)}, 0},
		{"seen flag", []store.Change{flags(store.FlagSeen)}, 0},
		{"expunge", []store.Change{exp}, 0},
		{"move", []store.Change{add(a), exp}, 2},
		{"move of a, delivery to b", []store.Change{add(a), exp, add(b)}, 2},
		{"$Junk", []store.Change{flags(store.FlagSeen, KeywordJunk)}, 1},
		{"$NotJunk", []store.Change{flags(KeywordNotJunk)}, 1},
		{"mailbox created", []store.Change{{Kind: store.MailboxCreated, Account: a}}, 0},
	} {
		got := candidates(c.in)
		if len(got) != c.want || slices.ContainsFunc(got, func(x store.Change) bool { return x.Account == b }) {
			t.Errorf("%s: kept %v, want %d of account a", c.name, got, c.want)
		}
	}
}
