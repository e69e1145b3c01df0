package sqlite

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/directory/directorytest"
)

func TestSSOConformance(t *testing.T) {
	directorytest.RunSSO(t, func(t *testing.T) directory.Directory {
		return openTemp(t, filepath.Join(t.TempDir(), "directory.db"))
	})
}

// BenchmarkUseSSONonce is the directory's share of one single sign-on link: recording its
// nonce (one durable write, with the purge of expired ones).
func BenchmarkUseSSONonce(b *testing.B) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(b.TempDir(), "directory.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := d.Close(); err != nil {
			b.Error(err)
		}
	})
	now := time.Now()
	for i := 0; b.Loop(); i++ {
		ok, err := d.UseSSONonce(ctx, "a.example", "nonce-"+strconv.Itoa(i), now.Add(time.Minute), now)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
