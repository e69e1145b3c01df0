package web_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/store"
	"mailgrid/internal/web"
)

// countingShards wraps the driver's stores, counting the message rows the webmail reads
// (Messages and ListMessages). state false hides store.TextIndexState, so header-only
// searches walk the rows.
type countingShards struct {
	inner store.Shards
	state bool
	rows  *atomic.Int64
}

func (p countingShards) Shard(name string) (store.Store, error) {
	st, err := p.inner.Shard(name)
	if err != nil {
		return nil, err
	}
	c := &countingStore{Store: st, rows: p.rows}
	if p.state {
		return countingIndexed{c}, nil
	}
	return c, nil
}

type countingStore struct {
	store.Store
	rows *atomic.Int64
}

func (c *countingStore) Messages(ctx context.Context, a store.AccountRef, mb store.MailboxID, q store.Query, fn func(store.Message) error) error {
	return c.Store.Messages(ctx, a, mb, q, func(m store.Message) error {
		c.rows.Add(1)
		return fn(m)
	})
}

func (c *countingStore) ListMessages(ctx context.Context, a store.AccountRef, mb store.MailboxID, q store.ListQuery) (store.ListPage, error) {
	p, err := c.Store.(store.Lister).ListMessages(ctx, a, mb, q)
	c.rows.Add(int64(len(p.Messages)))
	return p, err
}

func (c *countingStore) SearchText(ctx context.Context, a store.AccountRef, mb store.MailboxID, q store.TextQuery) ([]store.UID, error) {
	return c.Store.(store.TextSearcher).SearchText(ctx, a, mb, q)
}

type countingIndexed struct{ *countingStore }

func (c countingIndexed) TextUnindexed(ctx context.Context, a store.AccountRef, mb store.MailboxID, limit int) (int, error) {
	return c.Store.(store.TextIndexState).TextUnindexed(ctx, a, mb, limit)
}

// TestMailSearchHeaderIndexed: a header-only search over a folder whose text index is
// (nearly) current reads only the index's candidate rows; without store.TextIndexState
// it walks every row; both return the same results.
func TestMailSearchHeaderIndexed(t *testing.T) {
	subj := regexp.MustCompile(`(zebra|lion)-\d\d`)
	results := map[bool][]string{}
	reads := map[bool]int64{}
	for _, state := range []bool{true, false} {
		var rows atomic.Int64
		h := mailHarness(t, func(o *web.MailOptions, e *deliverytest.Env) {
			o.Shards = countingShards{inner: e.Shards, state: state, rows: &rows}
		})
		c := h.loggedIn("u1@a.example")
		for i := range 40 {
			w := "lion"
			if i%10 == 3 {
				w = "zebra"
			}
			h.deliver("u1@a.example", fmt.Sprintf(textMail, fmt.Sprintf("%s-%02d", w, i), fmt.Sprint("h", i), "u1"))
		}
		for _, q := range []string{"subject=ZEBRA", "q=zebra-13", "from=alice&subject=zebra"} {
			before := rows.Load()
			st, _, body := c.get("/mail/search?" + q)
			if st != http.StatusOK {
				t.Fatalf("state %v: search %s: %d", state, q, st)
			}
			reads[state] += rows.Load() - before
			var got []string
			for _, row := range strings.Split(body, `<tr class="row`)[1:] {
				got = append(got, subj.FindString(row))
			}
			results[state] = append(results[state], q+": "+strings.Join(got, ","))
		}
	}
	want := []string{"subject=ZEBRA: zebra-33,zebra-23,zebra-13,zebra-03", "q=zebra-13: zebra-13",
		"from=alice&subject=zebra: zebra-33,zebra-23,zebra-13,zebra-03"}
	for _, state := range []bool{true, false} {
		if !slices.Equal(results[state], want) {
			t.Errorf("TextIndexState %v: %q, want %q", state, results[state], want)
		}
	}
	// Indexed: the candidates only (4 + 1 + 4 rows, give or take the page reads of
	// other folders); walking: every row of the folder for each search.
	if reads[true] > 12 || reads[false] < 3*40 {
		t.Errorf("rows read: indexed %d (want at most 12), walking %d (want at least 120)", reads[true], reads[false])
	}
}
