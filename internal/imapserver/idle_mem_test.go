package imapserver_test

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"mailgrid/internal/imapserver"
)

// BenchmarkIdleMemory opens 300 connections (server and client in this process), each
// logged in with INBOX selected and in IDLE, and reports the heap and goroutine stack
// memory they add, per connection (client side included: a TLS connection and a bufio
// reader each).
//
//	go test -run XXX -bench IdleMemory -benchtime 1x ./internal/imapserver
func BenchmarkIdleMemory(b *testing.B) {
	const conns = 300
	w := newWorld(b)
	for range 20 {
		w.deliver(b, w.user, "INBOX", "Subject: x\n\nbody\n")
	}
	_, addr := w.server(b, func(o *imapserver.Options) { o.MaxConnsPerIP = conns + 10 })
	for b.Loop() {
		before := memInUse()
		cs := make([]*client, conns)
		for i := range cs {
			c := login(b, addr)
			c.ok("SELECT INBOX")
			c.send("i IDLE\r\n")
			c.expectPrefix("+ ")
			cs[i] = c
		}
		after := memInUse()
		b.ReportMetric(float64(after-before)/conns/1024, "KiB/conn")
		b.ReportMetric(float64(stackInUse())/conns/1024, "stack-KiB/conn")
		if f := os.Getenv("IDLE_HEAP_PROFILE"); f != "" {
			writeHeapProfile(b, f)
		}
		for _, c := range cs {
			c.send("DONE\r\n")
			c.until("i")
			_ = c.conn.Close()
		}
	}
}

func writeHeapProfile(b *testing.B, name string) {
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer closeT(b, f)
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

// stackInUse is the goroutine stack memory in use.
func stackInUse() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.StackInuse)
}

// memInUse is the heap and stack memory in use after a collection.
func memInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}
