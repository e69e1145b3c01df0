package cluster_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/cluster"
	"mailgrid/internal/store"
	"mailgrid/internal/testkit/pgtest"
)

// BenchmarkMove moves an account of 2,000 messages of 4 KiB back and forth between two
// shards on the local PostgreSQL server: messages/s copied, the fence's duration, and the
// CPU spent per message copied, in this process (go-cpu-µs/msg) and in the PostgreSQL
// backends of the test's three databases (pg-cpu-µs/msg). CPU time hardly depends on
// what else the machine runs; messages/s does.
//
// Between moves, outside the figures, the bodies the target freed when the account last
// left it are collected, so that each move stores its bodies as on a fresh target, and
// the background text indexing (the seed's on s1, each move's imports on its target once
// the import handle closes) is left to finish: the command-line mover exits before it
// would run, and a node pays it after the move.
//
// MOVE_LOAD=N keeps N goroutines delivering to the account through the delivery
// pipeline during the moves (their CPU is then counted too); MOVE_BATCH sets
// Options.BatchMessages, MOVE_IMPORTERS Options.Importers; MOVE_SYNC_IMPORTS=1 sets
// Options.SyncImports.
func BenchmarkMove(b *testing.B) {
	e := newEnv(b)
	a, ref := e.account("bench@example.test", "s1")
	seed(b, e.st["s1"], ref, "INBOX", 2000, 4096)
	ctx := context.Background()
	if v := os.Getenv("MOVE_BATCH"); v != "" {
		e.eng.Options.BatchMessages, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("MOVE_IMPORTERS"); v != "" {
		e.eng.Options.Importers, _ = strconv.Atoi(v)
	}
	e.eng.Options.SyncImports = os.Getenv("MOVE_SYNC_IMPORTS") != ""
	load, _ := strconv.Atoi(os.Getenv("MOVE_LOAD"))
	pg := newPGCPU(b, e.dsn["directory"], e.dsn["s1"], e.dsn["s2"])
	cluster.SetHook(e.eng, func(point string) error { // the import handle's backends end with the move
		if point == "fenced" {
			pg.sample()
		}
		return nil
	})
	var delivered atomic.Int64
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range load {
		wg.Go(func() {
			for lctx.Err() == nil {
				if _, err := e.deliver(lctx, a.Address.String(), newID()); err == nil {
					delivered.Add(1)
				}
			}
		})
	}
	defer func() { stop(); wg.Wait() }()

	shards := [2]string{"s2", "s1"}
	var msgs, fence, rounds int64
	var took time.Duration
	var cpu, pgcpu time.Duration
	var during int64 // deliveries while a move ran
	i := 0
	for b.Loop() {
		b.StopTimer()
		indexSettled(b, e.st[shards[(i+1)%2]], ref)
		// The bodies the target's purge freed would be revived, not stored: collect them
		// (no grace), so that every move stores its bodies as on a fresh target.
		if _, err := e.st[shards[i%2]].CollectBlobs(ctx, 0, 1<<20); err != nil {
			b.Fatal(err)
		}
		cpu0, pg0, d0 := processCPU(b), pg.sample(), delivered.Load()
		b.StartTimer()
		start := time.Now()
		m, err := e.eng.Move(ctx, a.Address, shards[i%2])
		took += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		cpu, pgcpu, during = cpu+processCPU(b)-cpu0, pgcpu+pg.sample()-pg0, during+delivered.Load()-d0
		msgs += m.Messages
		fence += m.FenceMS
		rounds += int64(m.Rounds)
		i++
	}
	b.ReportMetric(float64(msgs)/took.Seconds(), "msgs/s")
	b.ReportMetric(float64(fence)/float64(i), "fence-ms/op")
	b.ReportMetric(float64(rounds)/float64(i), "rounds/op")
	b.ReportMetric(float64(cpu.Microseconds())/float64(msgs), "go-cpu-µs/msg")
	b.ReportMetric(float64(pgcpu.Microseconds())/float64(msgs), "pg-cpu-µs/msg")
	if load > 0 {
		b.ReportMetric(float64(during)/took.Seconds(), "deliveries/s")
	}
}

// indexSettled waits (bounded) until the background text indexer of st has indexed every
// mailbox of ref.
func indexSettled(t testing.TB, st store.Store, ref store.AccountRef) {
	ctx := context.Background()
	ts, ok := st.(store.TextIndexState)
	if !ok {
		return
	}
	boxes, err := st.Mailboxes(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range boxes {
		for n := 0; ; n++ {
			left, err := ts.TextUnindexed(ctx, ref, mb.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			if left == 0 {
				break
			}
			if n == 6000 {
				t.Fatalf("mailbox %q still not indexed after 60 s", mb.Name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// processCPU is this process's user and system CPU time so far.
func processCPU(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pgCPU sums the CPU time of the PostgreSQL backends serving some databases, read from
// /proc (the server runs on this machine). A backend that exits between two samples
// takes its time with it: the pools here keep their connections, so few do.
type pgCPU struct {
	t     testing.TB
	conn  *pgx.Conn
	names []string
	seen  map[int32]time.Duration // last reading of each backend
	total time.Duration
}

func newPGCPU(t testing.TB, dsns ...string) *pgCPU {
	conn, err := pgx.Connect(context.Background(), pgtest.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	p := &pgCPU{t: t, conn: conn, seen: map[int32]time.Duration{}}
	for _, d := range dsns {
		u, err := url.Parse(d)
		if err != nil {
			t.Fatal(err)
		}
		p.names = append(p.names, strings.TrimPrefix(u.Path, "/"))
	}
	return p
}

// sample returns the backends' CPU time counted so far (new backends count from zero).
func (p *pgCPU) sample() time.Duration {
	rows, err := p.conn.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = ANY($1)`, p.names)
	if err != nil {
		p.t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		p.t.Fatal(err)
	}
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // ended meanwhile, or PostgreSQL is not on this machine
		}
		// Fields after the command's closing parenthesis: state is field 3; utime and
		// stime are fields 14 and 15, in clock ticks (100 per second on Linux).
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		now := time.Duration(ut+st) * 10 * time.Millisecond
		p.total += now - p.seen[pid]
		p.seen[pid] = now
	}
	return p.total
}
