package imapserver

import (
	"slices"
	"sync"

	"mailgrid/internal/store"
)

// Cache bounds: messages held by all entries, and by one (a larger mailbox is always read
// from the store). A cached message costs about 60 bytes (UID, flag slice).
const (
	boxCacheMessages  = 256 << 10
	boxCacheMaxBox    = 64 << 10
	boxCacheMaxQueued = 4096 // changes queued for an entry being filled
)

// boxCache is the node's shared picture of recently selected mailboxes, so a SELECT need
// not read every message row (RFC 9051 6.3.2 needs the UIDs, the flags for UNSEEN and the
// keywords in use). One server holds one; every session reads it.
//
// Model:
//   - An entry holds a mailbox's UIDs and each message's flags, exact as of the mailbox's
//     modseq `modseq`: every change to a message takes the mailbox's next modseq (RFC 7162
//     3.1.1, store package doc), so an entry whose modseq equals the HighestModSeq the
//     SELECT just read from the store is exactly what the store holds; any other entry is
//     not used (a miss reads the store, as without the cache).
//   - Entries follow the bus: observe sees every published batch of every account
//     (bus.Observe, in the publisher's goroutine) and applies message changes with a
//     modseq above the entry's. Each message change takes exactly the mailbox's next
//     modseq, so the next change an entry can take is modseq+1: any other (a change
//     published out of commit order, as a cluster node's own changes and another node's
//     NOTIFY may interleave, or one lost) drops the entry, as do a change the bus may have
//     lost (AccountResync, a transport's ResyncAll) and a move of the account; a deleted
//     mailbox drops its entry.
//   - An entry is filled from a SELECT's own store read: it is installed empty first (so
//     changes published meanwhile are queued, none missed), and kept only when the
//     mailbox's HighestModSeq read again after the rows is the one read before them, so
//     the rows are a snapshot at that modseq. Queued changes above it are then applied.
//   - Flag slices are shared with the bus and the store's rows and never modified.
type boxCache struct {
	mu    sync.Mutex
	boxes map[boxKey]*cachedBox
	total int    // messages held by ready entries
	tick  uint64 // use counter, for eviction
	hits  uint64 // loads answered (for tests and profiles)
}

type boxKey struct {
	acct store.AccountRef
	mbox store.MailboxID
}

type cachedBox struct {
	key         boxKey
	filling     bool
	queued      []store.Change // changes published while filling
	lost        bool           // more than boxCacheMaxQueued were queued
	uidValidity uint32
	modseq      uint64
	uids        []store.UID // ascending
	flags       [][]string  // flags[i] are uids[i]'s
	used        uint64
}

func newBoxCache() *boxCache {
	return &boxCache{boxes: map[boxKey]*cachedBox{}}
}

// observe applies a published batch (bus.Observe).
func (c *boxCache) observe(changes []store.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.boxes) == 0 {
		return
	}
	for _, ch := range changes {
		switch ch.Kind {
		case store.AccountResync, store.AccountMoved:
			c.dropAccount(ch.Account) // a zero Account (bus.ResyncAll) drops every entry
		case store.MailboxDeleted:
			if b := c.boxes[boxKey{ch.Account, ch.Mailbox}]; b != nil {
				c.drop(b)
			}
		case store.MessageAdded, store.FlagsChanged, store.MessageExpunged:
			b := c.boxes[boxKey{ch.Account, ch.Mailbox}]
			switch {
			case b == nil:
			case b.filling && len(b.queued) < boxCacheMaxQueued:
				b.queued = append(b.queued, ch)
			case b.filling:
				b.lost = true
			default:
				c.apply(b, ch)
			}
		}
	}
}

// apply changes a ready entry by one message change newer than it, or drops the entry
// when a change between them is missing; it reports whether the entry is still there.
func (c *boxCache) apply(b *cachedBox, ch store.Change) bool {
	if ch.ModSeq <= b.modseq {
		return true // in the snapshot already
	}
	if ch.ModSeq != b.modseq+1 {
		c.drop(b)
		return false
	}
	b.modseq = ch.ModSeq
	i, found := slices.BinarySearch(b.uids, ch.UID)
	switch {
	case ch.Kind == store.MessageAdded && !found:
		b.uids = slices.Insert(b.uids, i, ch.UID)
		b.flags = slices.Insert(b.flags, i, ch.Flags)
		c.total++
	case ch.Kind == store.FlagsChanged && found:
		b.flags[i] = ch.Flags
	case ch.Kind == store.MessageExpunged && found:
		b.uids = slices.Delete(b.uids, i, i+1)
		b.flags = slices.Delete(b.flags, i, i+1)
		c.total--
	}
	return true
}

func (c *boxCache) drop(b *cachedBox) {
	if c.boxes[b.key] == b {
		delete(c.boxes, b.key)
		if !b.filling {
			c.total -= len(b.uids)
		}
	}
}

func (c *boxCache) dropAccount(acct store.AccountRef) {
	for k, b := range c.boxes {
		if acct == (store.AccountRef{}) || k.acct == acct {
			c.drop(b)
		}
	}
}

// load fills v's UIDs and keywords from the entry of key when it is exact at mb's
// HighestModSeq, and returns the first unseen sequence number; ok is false on a miss.
func (c *boxCache) load(key boxKey, mb store.Mailbox, v *view) (first uint32, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.boxes[key]
	if b == nil || b.filling || b.uidValidity != mb.UIDValidity || b.modseq != mb.HighestModSeq {
		return 0, false
	}
	c.tick++
	c.hits++
	b.used = c.tick
	v.uids = slices.Clone(b.uids)
	for i, f := range b.flags {
		v.keywords.add(f)
		if first == 0 && !slices.Contains(f, store.FlagSeen) {
			first = uint32(i + 1)
		}
	}
	return first, true
}

// beginFill installs an empty entry for key, replacing a stale one, and returns it; nil
// when another session is filling it.
func (c *boxCache) beginFill(key boxKey) *cachedBox {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.boxes[key]; b != nil {
		if b.filling {
			return nil
		}
		c.drop(b)
	}
	b := &cachedBox{key: key, filling: true}
	c.boxes[key] = b
	return b
}

// finishFill makes b ready with a snapshot exact at mb.HighestModSeq (the caller checked),
// then applies what was queued meanwhile; it drops b when changes were lost or it is too
// large, and evicts the least recently used entries over the bound.
func (c *boxCache) finishFill(b *cachedBox, mb store.Mailbox, uids []store.UID, flags [][]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.boxes[b.key] != b {
		return // dropped meanwhile (resync, move, deletion)
	}
	if b.lost || len(uids) > boxCacheMaxBox {
		c.drop(b)
		return
	}
	b.filling, b.uidValidity, b.modseq, b.uids, b.flags = false, mb.UIDValidity, mb.HighestModSeq, uids, flags
	c.total += len(uids)
	queued := b.queued
	b.queued = nil
	for _, ch := range queued {
		if !c.apply(b, ch) {
			return
		}
	}
	c.tick++
	b.used = c.tick
	for c.total > boxCacheMessages {
		var lru *cachedBox
		for _, e := range c.boxes {
			if !e.filling && e != b && (lru == nil || e.used < lru.used) {
				lru = e
			}
		}
		if lru == nil {
			break
		}
		c.drop(lru)
	}
}

// abortFill removes b, whose snapshot could not be taken.
func (c *boxCache) abortFill(b *cachedBox) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drop(b)
}
