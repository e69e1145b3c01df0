package imapserver

import (
	"context"
	"slices"
	"sort"

	"mailgrid/internal/store"
)

// resolve turns a sequence set (message numbers, or UIDs for UID commands) into the UIDs
// of the selected mailbox it names, ascending. A message number beyond the mailbox is a
// client error (RFC 9051 6.4.5: BAD); UIDs that do not exist are ignored (RFC 9051 6.4.9).
func (s *session) resolve(set seqSet, uid bool) ([]store.UID, error) {
	v := s.sel
	if set.dollar {
		var out []store.UID
		for _, u := range s.saved {
			if v.seq(u) != 0 {
				out = append(out, u)
			}
		}
		return out, nil
	}
	var out []store.UID
	if uid {
		max := uint32(v.maxUID())
		for _, r := range set.ranges {
			lo, hi := r.bounds(max)
			i := sort.Search(len(v.uids), func(i int) bool { return uint32(v.uids[i]) >= lo })
			for ; i < len(v.uids) && uint32(v.uids[i]) <= hi; i++ {
				out = append(out, v.uids[i])
			}
		}
	} else {
		n := uint32(len(v.uids))
		for _, r := range set.ranges {
			lo, hi := r.bounds(n)
			if lo == 0 || hi > n {
				return nil, badCode(codeClientBug, "invalid message sequence number (%d messages)", n)
			}
			for i := lo; i <= hi; i++ {
				out = append(out, v.uids[i-1])
			}
		}
	}
	if len(set.ranges) > 1 {
		sortUIDs(out)
		out = slices.Compact(out)
	}
	return out, nil
}

// fetchBatch is how many messages are read from the store at a time: the store's read
// connection is never held while a slow client takes the responses.
const fetchBatch = 200

// eachMessage calls fn with the stored messages among uids (ascending), in batches, with
// no store query open while fn runs. changedSince filters as RFC 7162 CHANGEDSINCE;
// noMeta tells the store that fn needs no Message.Meta (store.Query.NoMeta).
func (s *session) eachMessage(uids []store.UID, changedSince uint64, noMeta bool, fn func(store.Message) error) error {
	ctx := context.Background()
	for len(uids) > 0 {
		lo := uids[0]
		hi := uids[min(len(uids), fetchBatch)-1]
		var batch []store.Message
		err := s.st.Messages(ctx, s.ref, s.sel.mbox.ID, store.Query{MinUID: lo, MaxUID: hi, ChangedSince: changedSince, NoMeta: noMeta}, func(m store.Message) error {
			if _, ok := slices.BinarySearch(uids, m.UID); ok {
				batch = append(batch, m)
			}
			return nil
		})
		if err != nil {
			return storeError(err, "FETCH")
		}
		for _, m := range batch {
			if err := fn(m); err != nil {
				return err
			}
		}
		i := sort.Search(len(uids), func(i int) bool { return uids[i] > hi })
		uids = uids[i:]
	}
	return nil
}
