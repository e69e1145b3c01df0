package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"

	"mailgrid/internal/store"
)

// Conversation view: the messages of a folder grouped into conversations by their
// Message-ID, In-Reply-To and References fields (RFC 5322 3.6.4; the linking half of the
// REFERENCES threading of RFC 5256 4, without its subject merging), newest conversation
// first. A conversation shows as its newest message with a count; opening the count
// lists its messages oldest first.

type threadMsg struct {
	m   store.Message
	key string
}

// threadIDs is what threading reads of a row's Meta.
type threadIDs struct {
	MessageID  string   `json:"msgid"`
	InReplyTo  string   `json:"inreplyto"`
	References []string `json:"references"`
}

// unionFind joins message ids into conversations.
type unionFind map[string]string

func (u unionFind) find(x string) string {
	for {
		p, ok := u[x]
		if !ok || p == x {
			return x
		}
		if gp, ok := u[p]; ok {
			u[x] = gp // path halving
		}
		x = p
	}
}

func (u unionFind) union(a, b string) {
	ra, rb := u.find(a), u.find(b)
	if ra != rb {
		if rb < ra {
			ra, rb = rb, ra
		}
		u[rb] = ra // the smaller id roots the set: the same key whatever the order
	}
}

// thread is one conversation of a folder.
type thread struct {
	root   string
	msgs   []store.Message // without Meta
	latest store.Message
	keep   bool // passes the list's filter
}

// collectThreads reads the folder's rows and groups them into conversations, in the
// order first seen.
func collectThreads(ctx context.Context, c *mailCtx, mb store.Mailbox, filter string) (map[string]*thread, []*thread, error) {
	uf := unionFind{}
	var msgs []threadMsg
	err := c.st.Messages(ctx, c.ref, mb.ID, store.Query{}, func(m store.Message) error {
		var ids threadIDs
		if len(m.Meta) > 0 && json.Unmarshal(m.Meta, &ids) != nil {
			ids = threadIDs{}
		}
		key := ids.MessageID
		if key == "" {
			key = "\x00uid" + strconv.FormatUint(uint64(m.UID), 10) // a message of its own
		}
		if _, ok := uf[key]; !ok {
			uf[key] = key
		}
		for _, r := range append(ids.References, ids.InReplyTo) {
			if r != "" && len(r) < 1000 {
				uf.union(key, r)
			}
		}
		m.Meta = nil
		msgs = append(msgs, threadMsg{m: m, key: key})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	byRoot := map[string]*thread{}
	var threads []*thread
	for _, tm := range msgs {
		root := uf.find(tm.key)
		t := byRoot[root]
		if t == nil {
			t = &thread{root: root}
			byRoot[root] = t
			threads = append(threads, t)
		}
		t.msgs = append(t.msgs, tm.m)
		if t.latest.UID == 0 || tm.m.InternalDate.After(t.latest.InternalDate) {
			t.latest = tm.m
		}
		switch filter {
		case "unread":
			t.keep = t.keep || !slices.Contains(tm.m.Flags, store.FlagSeen)
		case "flagged":
			t.keep = t.keep || slices.Contains(tm.m.Flags, store.FlagFlagged)
		default:
			t.keep = true
		}
	}
	return byRoot, threads, nil
}

// threadPage is listPage in conversation view.
func (s *Server) threadPage(ctx context.Context, c *mailCtx, mb store.Mailbox, l listQuery) ([]rowView, int, error) {
	byRoot, threads, err := collectThreads(ctx, c, mb, l.Filter)
	if err != nil {
		return nil, 0, err
	}
	if l.T != "" { // one conversation, oldest first
		t := byRoot[l.T]
		if t == nil {
			return nil, 0, nil
		}
		slices.SortFunc(t.msgs, func(a, b store.Message) int { return a.InternalDate.Compare(b.InternalDate) })
		rows := make([]rowView, 0, len(t.msgs))
		for _, m := range t.msgs {
			full, err := c.one(ctx, mb.ID, m.UID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, 0, err
			}
			rows = append(rows, rowOf(full, mb.Name))
		}
		return rows, len(rows), nil
	}
	threads = slices.DeleteFunc(threads, func(t *thread) bool { return !t.keep })
	slices.SortFunc(threads, func(a, b *thread) int {
		if o := b.latest.InternalDate.Compare(a.latest.InternalDate); o != 0 {
			return o
		}
		return cmp.Compare(b.latest.UID, a.latest.UID)
	})
	size := s.pageSizeFor(c)
	from := min((l.Page-1)*size, len(threads))
	to := min(from+size, len(threads))
	rows := make([]rowView, 0, to-from)
	for _, t := range threads[from:to] {
		full, err := c.one(ctx, mb.ID, t.latest.UID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		r := rowOf(full, mb.Name)
		r.Count = len(t.msgs)
		for _, m := range t.msgs {
			r.Seen = r.Seen && slices.Contains(m.Flags, store.FlagSeen)
			r.Flagged = r.Flagged || slices.Contains(m.Flags, store.FlagFlagged)
		}
		if r.Count > 1 {
			r.ThreadURL = l.URL(mb.ID, "t="+t.root)
		}
		rows = append(rows, r)
	}
	return rows, len(threads), nil
}
