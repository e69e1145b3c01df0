package mailets_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/mailets"
	filtersqlite "mailgrid/internal/filter/sqlite"
	"mailgrid/internal/mail"
)

// BenchmarkBlockListRcpt measures one RCPT-stage run of the block list over the SQLite
// filter state holding n entries for the recipient's domain (a miss: every entry is
// compared), read at every command and cached.
func BenchmarkBlockListRcpt(b *testing.B) {
	for _, n := range []int{0, 10, 1000} {
		for _, cache := range []time.Duration{0, 5 * time.Second} {
			b.Run(fmt.Sprintf("entries=%d/cache=%v", n, cache), func(b *testing.B) { benchBlockList(b, n, cache) })
		}
	}
}

func benchBlockList(b *testing.B, n int, cache time.Duration) {
	ctx := context.Background()
	db, err := filtersqlite.Open(ctx, filtersqlite.Options{Dir: filepath.Join(b.TempDir(), "filter")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	for i := range n {
		kind, value := filter.BlockSender, fmt.Sprintf("spammer%d@spam.example", i)
		if i%2 == 1 {
			kind, value = filter.BlockIP, fmt.Sprintf("198.51.%d.0/24", i%256)
		}
		v, err := filter.NormalizeBlock(kind, value)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.AddBlock(ctx, filter.BlockEntry{Domain: "local.test", Kind: kind, Value: v}); err != nil && i%2 == 0 {
			b.Fatal(err)
		}
	}
	c := filter.NewChains(nil)
	if err := c.Add(filter.StageRcpt, "", filter.Rule{Mailet: &mailets.BlockList{Lists: db, CacheFor: cache}}); err != nil {
		b.Fatal(err)
	}
	env := &filter.Envelope{From: mail.MustParse("friend@ok.example"), ClientIP: netip.MustParseAddr("192.0.2.1")}
	rcpt := mail.MustParse("user@local.test")
	b.ReportAllocs()
	for b.Loop() {
		r := &filter.Recipient{Addr: rcpt, Orig: rcpt}
		if err := c.Run(ctx, filter.NewMail(filter.StageRcpt, env, nil, []*filter.Recipient{r})); err != nil {
			b.Fatal(err)
		}
		if r.Final() {
			b.Fatal("blocked")
		}
	}
}
