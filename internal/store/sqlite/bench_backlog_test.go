package sqlite

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// BenchmarkFlagsDuringIndexBacklog: flag changes (STORE +FLAGS \Seen) by 20 concurrent
// callers while the background indexer rebuilds the text index of 3,000 messages of
// 4 KiB in 20 accounts (the start-up scan after an upgrade or a lost index): what the
// indexer's writes cost the foreground writes. Reports ops/s, the latency percentiles of
// a change and the process's CPU per change (the indexer's included).
func BenchmarkFlagsDuringIndexBacklog(b *testing.B) {
	const (
		accounts = 20
		messages = 3000
	)
	dir, inboxes := backlogShard(b, accounts, messages)
	s, err := Open(b.Context(), Options{Dir: dir}) // the start-up scan finds every mailbox behind
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	}()
	var next atomic.Int64
	var wg sync.WaitGroup
	lat := make([][]time.Duration, accounts)
	b.ResetTimer()
	cpu0 := processCPU(b)
	for w := range accounts {
		wg.Go(func() {
			a := store.AccountRef{Domain: "example.com", ID: int64(w + 1)}
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				_, err := s.StoreFlags(b.Context(), a, inboxes[w], store.FlagUpdate{
					UIDs: []store.UID{store.UID(1 + r.IntN(messages/accounts))}, Op: store.FlagsAdd, Flags: []string{`\Seen`}})
				if err != nil {
					b.Errorf("StoreFlags: %v", err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

// BenchmarkIndexBacklog: the background indexer alone rebuilds the text index of 3,000
// messages of 4 KiB in 20 accounts (the start-up scan); reports the wall time until
// every mailbox is clean and the process's CPU time meanwhile, per rebuild.
func BenchmarkIndexBacklog(b *testing.B) {
	var wall, cpu time.Duration
	for range b.N {
		b.StopTimer()
		dir, _ := backlogShard(b, 20, 3000)
		b.StartTimer()
		t0, cpu0 := time.Now(), processCPU(b)
		s, err := Open(b.Context(), Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		for {
			var behind int
			err := s.rdb.QueryRowContext(b.Context(), `SELECT count(*) FROM mailboxes mb LEFT JOIN search_state st ON st.mailbox = mb.id
				WHERE mb.messages > 0 AND (st.mailbox IS NULL OR st.gen <> st.clean)`).Scan(&behind)
			if err != nil {
				b.Fatal(err)
			}
			if behind == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		wall += time.Since(t0)
		cpu += processCPU(b) - cpu0
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s/op")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

// backlogShard writes a closed shard of messages of 4 KiB delivered round robin to
// accounts accounts, without a text index; it returns the directory and the INBOXes.
func backlogShard(b *testing.B, accounts, messages int) (string, []store.MailboxID) {
	dir := b.TempDir()
	s, err := Open(b.Context(), Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	s.idx.Close() // the backlog stays a backlog
	inboxes := make([]store.MailboxID, accounts)
	msg := benchMessage(4 << 10)
	for i := range messages {
		a := store.AccountRef{Domain: "example.com", ID: int64(i%accounts + 1)}
		if i < accounts {
			if err := s.EnsureAccount(b.Context(), a); err != nil {
				b.Fatal(err)
			}
		}
		copy(msg, fmt.Sprintf("X-Seq: %012d", i))
		res, err := s.Deliver(b.Context(), store.Delivery{Body: bytes.NewReader(msg), Targets: []store.DeliveryTarget{{Account: a}}})
		if err != nil || res[0].Err != nil {
			b.Fatalf("Deliver: %v %+v", err, res)
		}
		inboxes[i%accounts] = res[0].Mailbox
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	forgetTextIndex(b, dir)
	return dir, inboxes
}

// forgetTextIndex deletes the text index rows and search_state of a closed shard,
// wherever the index lives (store.db up to schema version 9, search.db after).
func forgetTextIndex(b *testing.B, dir string) {
	for _, f := range []string{"store.db", "search.db"} {
		path := filepath.Join(dir, f)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		db, err := sql.Open("sqlite", dsn(path, false))
		if err != nil {
			b.Fatal(err)
		}
		var n int
		err = db.QueryRowContext(b.Context(), `SELECT count(*) FROM sqlite_master WHERE name = 'search_text'`).Scan(&n)
		if err == nil && n == 1 {
			_, err = db.ExecContext(b.Context(), `DELETE FROM search_text`)
		}
		if err == nil && f == "store.db" {
			_, err = db.ExecContext(b.Context(), `DELETE FROM search_state`)
		}
		if err := errors.Join(err, db.Close()); err != nil {
			b.Fatalf("forget the text index: %s: %v", f, err)
		}
	}
}
