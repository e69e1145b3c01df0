package imapserver

import (
	"slices"
	"testing"

	"mailgrid/internal/store"
)

var cacheAcct = store.AccountRef{Domain: "example.org", ID: 7}

func cacheMailbox(modseq uint64) store.Mailbox {
	return store.Mailbox{ID: 3, UIDValidity: 99, HighestModSeq: modseq}
}

func cacheView() *view { return &view{} }

func msgChange(kind store.ChangeKind, uid store.UID, modseq uint64, flags ...string) store.Change {
	return store.Change{Kind: kind, Account: cacheAcct, Mailbox: 3, UID: uid, ModSeq: modseq, Flags: flags}
}

// fillCache fills the entry of mailbox 3 with UIDs 1-3 (1 seen) at modseq 10.
func fillCache(t *testing.T, c *boxCache) boxKey {
	t.Helper()
	key := boxKey{cacheAcct, 3}
	b := c.beginFill(key)
	if b == nil {
		t.Fatal("beginFill: nil")
	}
	c.finishFill(b, cacheMailbox(10), []store.UID{1, 2, 3}, [][]string{{store.FlagSeen}, {}, {"$Work"}})
	return key
}

// TestBoxCacheFollowsChanges: a filled entry answers a SELECT only at the mailbox's
// current modseq, and follows adds, flag changes and expunges published after it.
func TestBoxCacheFollowsChanges(t *testing.T) {
	c := newBoxCache()
	key := fillCache(t, c)
	v := cacheView()
	first, ok := c.load(key, cacheMailbox(10), v)
	if !ok || first != 2 || !slices.Equal(v.uids, []store.UID{1, 2, 3}) || !slices.Equal(v.keywords.list, []string{"$Work"}) {
		t.Fatalf("load at 10: ok %v first %d uids %v keywords %v", ok, first, v.uids, v.keywords.list)
	}
	if _, ok := c.load(key, cacheMailbox(11), cacheView()); ok {
		t.Fatal("an entry behind the mailbox's modseq was used")
	}
	c.observe([]store.Change{
		msgChange(store.FlagsChanged, 2, 11, store.FlagSeen),
		msgChange(store.MessageAdded, 4, 12, "$Later"),
		msgChange(store.MessageExpunged, 1, 13),
		msgChange(store.FlagsChanged, 3, 9, store.FlagSeen), // older than the entry: ignored
	})
	v = cacheView()
	first, ok = c.load(key, cacheMailbox(13), v)
	if !ok || first != 2 || !slices.Equal(v.uids, []store.UID{2, 3, 4}) || !slices.Equal(v.keywords.list, []string{"$Later", "$Work"}) {
		t.Fatalf("load at 13: ok %v first %d uids %v keywords %v", ok, first, v.uids, v.keywords.list)
	}
	if _, ok := c.load(key, store.Mailbox{ID: 3, UIDValidity: 100, HighestModSeq: 13}, cacheView()); ok {
		t.Fatal("an entry of another UIDVALIDITY was used")
	}
	if c.total != 3 {
		t.Fatalf("total %d, want 3", c.total)
	}
}

// TestBoxCacheQueuesWhileFilling: changes published while an entry is filled are applied
// after the snapshot when newer than it; too many lost ones drop the entry.
func TestBoxCacheQueuesWhileFilling(t *testing.T) {
	c := newBoxCache()
	key := boxKey{cacheAcct, 3}
	b := c.beginFill(key)
	if c.beginFill(key) != nil {
		t.Fatal("a second filler was let in")
	}
	c.observe([]store.Change{msgChange(store.MessageAdded, 2, 10), msgChange(store.MessageAdded, 3, 11, store.FlagSeen)})
	c.finishFill(b, cacheMailbox(10), []store.UID{1, 2}, [][]string{{}, {}})
	v := cacheView()
	if _, ok := c.load(key, cacheMailbox(11), v); !ok || !slices.Equal(v.uids, []store.UID{1, 2, 3}) {
		t.Fatalf("after fill: ok %v uids %v", ok, v.uids)
	}

	b = c.beginFill(key) // a stale entry is replaced
	for i := range boxCacheMaxQueued + 1 {
		c.observe([]store.Change{msgChange(store.FlagsChanged, 1, uint64(20+i))})
	}
	c.finishFill(b, cacheMailbox(11), []store.UID{1}, [][]string{{}})
	if _, ok := c.boxes[key]; ok || c.total != 0 {
		t.Fatalf("entry kept after lost changes (total %d)", c.total)
	}
}

// TestBoxCacheDrops: a resync of the account, of every account (bus.ResyncAll), a move
// and a mailbox deletion drop entries; an aborted fill leaves nothing.
func TestBoxCacheDrops(t *testing.T) {
	c := newBoxCache()
	for _, ch := range []store.Change{
		{Kind: store.AccountResync, Account: cacheAcct},
		{Kind: store.AccountResync},
		{Kind: store.AccountMoved, Account: cacheAcct},
		{Kind: store.MailboxDeleted, Account: cacheAcct, Mailbox: 3},
	} {
		key := fillCache(t, c)
		c.observe([]store.Change{ch})
		if _, ok := c.load(key, cacheMailbox(10), cacheView()); ok || c.total != 0 {
			t.Fatalf("%v: entry kept (total %d)", ch.Kind, c.total)
		}
	}
	b := c.beginFill(boxKey{cacheAcct, 3})
	c.abortFill(b)
	if len(c.boxes) != 0 {
		t.Fatalf("aborted fill left %d entries", len(c.boxes))
	}
}

// TestFlagVerdict: flag keys decide alone; a key on anything else leaves the answer
// unknown unless the flags decide it anyway.
func TestFlagVerdict(t *testing.T) {
	flag := func(op, f string) *searchKey { return &searchKey{op: op, flag: f} }
	other := &searchKey{op: "FROM", str: "x"}
	not := func(k *searchKey) *searchKey { return &searchKey{op: "NOT", kids: []*searchKey{k}} }
	and := func(ks ...*searchKey) *searchKey { return &searchKey{op: "AND", kids: ks} }
	or := func(a, b *searchKey) *searchKey { return &searchKey{op: "OR", kids: []*searchKey{a, b}} }
	seen := []string{store.FlagSeen, "$Work"}
	for _, c := range []struct {
		name         string
		k            *searchKey
		match, known bool
	}{
		{"UNSEEN on seen", flag("UNSEEN", ""), false, true},
		{"SEEN", flag("SEEN", ""), true, true},
		{"KEYWORD any case", flag("KEYWORD", "$work"), true, true},
		{"UNKEYWORD", flag("UNKEYWORD", "$Work"), false, true},
		{"FROM", other, false, false},
		{"FROM UNSEEN", and(other, flag("UNSEEN", "")), false, true},
		{"FROM SEEN", and(other, flag("SEEN", "")), true, false},
		{"OR FROM SEEN", or(other, flag("SEEN", "")), true, true},
		{"OR FROM UNSEEN", or(other, flag("UNSEEN", "")), false, false},
		{"NOT FROM", not(other), true, false},
		{"NOT UNSEEN", not(flag("UNSEEN", "")), true, true},
		{"NEW", &searchKey{op: "NEW"}, false, true},
	} {
		if m, k := c.k.flagVerdict(1, seen); m != c.match && c.known || k != c.known {
			t.Errorf("%s: match %v known %v, want %v %v", c.name, m, k, c.match, c.known)
		}
	}
}

// TestBoxCacheDropsOnGap: a change whose modseq is not the entry's next (one published
// out of commit order or lost) drops the entry; the older one arriving later finds none.
func TestBoxCacheDropsOnGap(t *testing.T) {
	c := newBoxCache()
	key := fillCache(t, c)
	c.observe([]store.Change{msgChange(store.FlagsChanged, 2, 12, store.FlagSeen)}) // 11 not seen
	if _, ok := c.boxes[key]; ok || c.total != 0 {
		t.Fatalf("entry kept across a gap (total %d)", c.total)
	}
	c.observe([]store.Change{msgChange(store.MessageAdded, 4, 11)})
	if len(c.boxes) != 0 {
		t.Fatal("a late change re-created an entry")
	}

	b := c.beginFill(key) // a gap among the changes queued while filling
	c.observe([]store.Change{msgChange(store.MessageAdded, 4, 11), msgChange(store.MessageAdded, 5, 13)})
	c.finishFill(b, cacheMailbox(10), []store.UID{1}, [][]string{{}})
	if _, ok := c.boxes[key]; ok || c.total != 0 {
		t.Fatalf("entry kept across a gap in its queue (total %d)", c.total)
	}
}
