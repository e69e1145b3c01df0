package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/sqlite"
	"mailgrid/internal/filter/statetest"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
	"mailgrid/internal/sqlitekit/sqlitekittest"
)

func open(t *testing.T, dir string) *sqlite.DB {
	t.Helper()
	d, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// TestConformance runs the filter-state suite; every handle of one test opens the same
// directory.
func TestConformance(t *testing.T) {
	var dirs sqlitekittest.PerTest
	statetest.Run(t, func(t *testing.T) statetest.State {
		d, err := sqlite.Open(t.Context(), sqlite.Options{Dir: dirs.Dir(t)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestHeldFiles: the layout of held bodies, held/<sha256>: one file for the copies of a
// message, removed with the last copy.
func TestHeldFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := open(t, dir)
	held, err := d.Hold(ctx, []filter.Held{
		{Domain: "one.test", Account: 1, Rcpt: mail.MustParse("a@one.test"), Reason: "virus Test.Sig", Mailet: "virus"},
		{Domain: "two.test", Account: 7, Rcpt: mail.MustParse("b@two.test"), Reason: "virus Test.Sig", Mailet: "virus"},
	}, body.Bytes(statetest.QuarantineMessage))
	must(t, err)
	if n := countFiles(t, filepath.Join(dir, "held")); n != 1 {
		t.Fatalf("%d held files, want 1 for two copies", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "held", held[0].BlobID)); err != nil {
		t.Fatalf("held/<blob>: %v", err)
	}
	must(t, d.Delete(ctx, "one.test", held[0].ID))
	if n := countFiles(t, filepath.Join(dir, "held")); n != 1 {
		t.Fatal("body removed while another copy holds it")
	}
	if n, err := d.Expire(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	if n := countFiles(t, filepath.Join(dir, "held")); n != 0 {
		t.Fatalf("%d held files after the last copy went", n)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	return len(ents)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
