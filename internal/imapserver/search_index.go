package imapserver

import (
	"context"
	"slices"

	"mailgrid/internal/store"
)

// BODY and TEXT through the store's text index.
//
// When the store implements store.TextSearcher, every BODY and TEXT key of a SEARCH (and
// of SORT and THREAD) is answered by one SearchText call before the mailbox is walked:
// the key then holds the matching UIDs (exact, RFC 9051 6.4.4 case-insensitive
// substring) and is evaluated by a lookup, so no body is read or decoded. The walk reads
// only the message rows (no Meta unless another key needs it), and, when the criteria
// are an AND with an indexed key, only the rows of the UIDs that key matched; when the
// criteria are indexed keys only, no row at all. Without
// the interface the keys are evaluated by a scan (search_eval.go) over the same text
// definition (store.ExtractText), so both give the same answers.

// useTextIndex answers k's BODY and TEXT keys from the index, if the store has one.
func (s *session) useTextIndex(k *searchKey) error {
	ts, ok := s.st.(store.TextSearcher)
	if !ok {
		return nil
	}
	return k.walk(func(n *searchKey) error {
		if n.op != "BODY" && n.op != "TEXT" {
			return nil
		}
		uids, err := ts.SearchText(context.Background(), s.ref, s.sel.mbox.ID,
			store.TextQuery{Needle: n.str, Header: n.op == "TEXT"})
		if err != nil {
			return storeError(err, "SEARCH")
		}
		n.indexed, n.hits = true, uids
		return nil
	})
}

// FROM, TO, CC, BCC and SUBJECT through the store's header text.
//
// When the store implements store.HeaderSearcher, each of these keys whose string the
// text can answer (store.HeaderIndexable) is answered by one SearchHeader call over the
// UID range of the candidates left by the text index: the same RFC 9051 6.4.4
// case-insensitive substring as metaFields.match over the Meta (store package,
// headersearch.go), so "FROM x UNSEEN" reads no Meta, and, with the mailbox cache
// deciding UNSEEN (search_flags.go), no message row at all. A key for which the store
// is unsure of some message (no decodable Meta) is evaluated over the messages instead.

// headerFields maps the header search keys to the store's fields.
var headerFields = map[string]string{
	"FROM": store.HeaderFrom, "TO": store.HeaderTo, "CC": store.HeaderCc,
	"BCC": store.HeaderBcc, "SUBJECT": store.HeaderSubject,
}

// useHeaderIndex answers k's header keys over the UIDs lo..hi from the store's header
// text, if it keeps one.
func (s *session) useHeaderIndex(k *searchKey, lo, hi store.UID) error {
	hs, ok := s.st.(store.HeaderSearcher)
	if !ok {
		return nil
	}
	return k.walk(func(n *searchKey) error {
		field, ok := headerFields[n.op]
		if !ok || n.indexed || !store.HeaderIndexable(n.str) {
			return nil
		}
		match, unsure, err := hs.SearchHeader(context.Background(), s.ref, s.sel.mbox.ID,
			store.HeaderQuery{Field: field, Needle: n.str, MinUID: lo, MaxUID: hi})
		if err != nil {
			return storeError(err, "SEARCH")
		}
		if len(unsure) == 0 {
			n.indexed, n.hits = true, match
		}
		return nil
	})
}

// walk calls fn for k and every key under it.
func (k *searchKey) walk(fn func(*searchKey) error) error {
	if err := fn(k); err != nil {
		return err
	}
	for _, kid := range k.kids {
		if err := kid.walk(fn); err != nil {
			return err
		}
	}
	return nil
}

// candidates narrows uids (ascending) to those k can match, from its indexed keys: an
// indexed key matches only its hits, an AND only what all its kids can match.
func (k *searchKey) candidates(uids []store.UID) []store.UID {
	switch {
	case k.indexed:
		return intersectUIDs(uids, k.hits)
	case k.op == "AND":
		for _, kid := range k.kids {
			uids = kid.candidates(uids)
		}
	}
	return uids
}

// onlyIndexed reports whether k is indexed keys under ANDs only, so its candidates are
// its matches.
func (k *searchKey) onlyIndexed() bool {
	switch {
	case k.indexed:
		return true
	case k.op == "AND":
		for _, kid := range k.kids {
			if !kid.onlyIndexed() {
				return false
			}
		}
		return len(k.kids) > 0
	}
	return false
}

// intersectUIDs returns the UIDs in both ascending lists.
func intersectUIDs(a, b []store.UID) []store.UID {
	out := make([]store.UID, 0, min(len(a), len(b)))
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0] < b[0]:
			a = a[1:]
		case a[0] > b[0]:
			b = b[1:]
		default:
			out = append(out, a[0])
			a, b = a[1:], b[1:]
		}
	}
	return slices.Clip(out)
}
