package imapserver

import (
	"context"
	"slices"

	"mailgrid/internal/store"
)

// flagVerdict evaluates k on a message's UID and flags alone (RFC 9051 6.4.4: ANSWERED,
// DELETED, DRAFT, FLAGGED, SEEN, KEYWORD and their UN- forms, NEW, OLD, RECENT, ALL, and
// the keys an index answered); known is false when the answer also depends on another
// key (envelope, body, size, date, sequence number, ...).
func (k *searchKey) flagVerdict(uid store.UID, flags []string) (match, known bool) {
	if k.indexed {
		_, ok := slices.BinarySearch(k.hits, uid)
		return ok, true
	}
	switch k.op {
	case "AND":
		known = true
		for _, kid := range k.kids {
			m, kn := kid.flagVerdict(uid, flags)
			if kn && !m {
				return false, true
			}
			known = known && kn
		}
		return true, known
	case "OR":
		m0, k0 := k.kids[0].flagVerdict(uid, flags)
		m1, k1 := k.kids[1].flagVerdict(uid, flags)
		if (k0 && m0) || (k1 && m1) {
			return true, true
		}
		return false, k0 && k1
	case "NOT":
		m, kn := k.kids[0].flagVerdict(uid, flags)
		return !m, kn
	case "ALL", "OLD":
		return true, true
	case "NEW", "RECENT":
		return false, true
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN":
		return hasFlag(flags, `\`+k.op), true
	case "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		return !hasFlag(flags, `\`+k.op[2:]), true
	case "KEYWORD":
		return hasFlag(flags, k.flag), true
	case "UNKEYWORD":
		return !hasFlag(flags, k.flag), true
	}
	return false, false
}

// usesFlags reports whether a flag key occurs in k.
func (k *searchKey) usesFlags() bool {
	switch k.op {
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN", "KEYWORD",
		"UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN", "UNKEYWORD":
		return true
	}
	return slices.ContainsFunc(k.kids, (*searchKey).usesFlags)
}

// flagCandidates narrows uids to the messages whose current flags do not rule key out,
// from the server's mailbox cache when it is exact at the mailbox's HighestModSeq (read
// now from the store), so "FROM x UNSEEN" reads no row of a seen message. decided
// reports that the flags alone decided every message: the result is then the matches
// ("UID SEARCH UNSEEN" reads no row at all). Without a usable cache entry uids are
// returned as they are.
func (s *session) flagCandidates(key *searchKey, uids []store.UID) (kept []store.UID, decided bool) {
	if len(uids) == 0 || !key.usesFlags() {
		return uids, false
	}
	v := s.sel
	mb, err := s.st.Mailbox(context.Background(), s.ref, v.mbox.Name)
	if err != nil || mb.ID != v.mbox.ID {
		return uids, false // the full path reports what is wrong
	}
	kept, decided, ok := s.srv.boxes.filter(boxKey{s.ref, mb.ID}, mb, uids, key.flagVerdict)
	if !ok {
		return uids, false
	}
	return kept, decided
}

// filter returns the UIDs among uids (ascending) that the entry of key holds and that
// verdict does not rule out, when the entry is exact at mb's HighestModSeq (else ok is
// false); decided reports that verdict knew the answer for every one.
func (c *boxCache) filter(key boxKey, mb store.Mailbox, uids []store.UID, verdict func(store.UID, []string) (bool, bool)) (kept []store.UID, decided, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.boxes[key]
	if b == nil || b.filling || b.uidValidity != mb.UIDValidity || b.modseq != mb.HighestModSeq {
		return nil, false, false
	}
	c.tick++
	b.used = c.tick
	kept, decided = uids[:0:0], true
	for _, u := range uids {
		i, found := slices.BinarySearch(b.uids, u)
		if !found {
			continue // expunged: the store has no row either
		}
		m, known := verdict(u, b.flags[i])
		decided = decided && known
		if m || !known {
			kept = append(kept, u)
		}
	}
	return kept, decided, true
}
