package app

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"mailgrid/internal/config"
	"mailgrid/internal/directory"
	"mailgrid/internal/obs"
	"mailgrid/internal/testkit/pgtest"
)

// BenchmarkDeleteAccount measures admin.Service.DeleteAccount of an account with one of
// everything (seedAccountState) with the AccountPurgers ("purge") and without them
// ("mail-only", what a deletion did before), on both shapes. Only the deletion is timed;
// cpu-ns/op is this process's CPU time in it (in a cluster PostgreSQL's is not counted).
//
//	go test ./internal/app -run - -bench DeleteAccount -benchtime 20x
func BenchmarkDeleteAccount(b *testing.B) {
	shapes := map[string]func(b *testing.B) *System{
		"embedded": func(b *testing.B) *System {
			c := config.Default()
			c.Data, c.Hostname, c.Listen = b.TempDir(), "mx.purge.test", config.Listen{}
			if err := c.Validate(); err != nil {
				b.Fatal(err)
			}
			s, err := Open(context.Background(), c, obs.Discard())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		},
		"cluster": func(b *testing.B) *System {
			c := config.Default()
			c.Data, c.Hostname, c.Listen = b.TempDir(), "mail.cluster.test", config.Listen{}
			c.Cluster.Directory, c.Node.Name = pgtest.DSN(b), "a"
			if err := c.Validate(); err != nil {
				b.Fatal(err)
			}
			s, err := Open(context.Background(), c, obs.Discard())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			if _, err := s.AddShard(context.Background(), "s1", pgtest.DSN(b), 0); err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	for _, shape := range []string{"embedded", "cluster"} {
		for _, mode := range []string{"mail-only", "purge"} {
			b.Run(shape+"/"+mode, func(b *testing.B) {
				s := shapes[shape](b)
				if mode == "mail-only" {
					s.Admin.AccountPurgers = nil
				}
				benchDeletes(b, s)
			})
		}
	}
}

func benchDeletes(b *testing.B, s *System) {
	ctx := context.Background()
	if _, err := s.Admin.AddDomain(ctx, directory.Domain{Name: "purge.test"}); err != nil {
		b.Fatal(err)
	}
	var cpuTotal time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		a := addAccount(b, s, fmt.Sprintf("u%d@purge.test", i))
		seedAccountState(b, s, a)
		c0 := processCPU(b)
		b.StartTimer()
		if err := s.Admin.DeleteAccount(ctx, a.Address); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpuTotal += processCPU(b) - c0
		b.StartTimer()
	}
	b.ReportMetric(float64(cpuTotal)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user+system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
