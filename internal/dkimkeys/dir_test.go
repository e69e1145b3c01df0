package dkimkeys_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/dkimkeys/keystest"
	"mailgrid/internal/mailauth"
)

func TestConformance(t *testing.T) {
	keystest.Run(t, func(t *testing.T) keystest.Storage {
		root := filepath.Join(t.TempDir(), "dkim")
		return func(now func() time.Time) dkimkeys.Keys {
			return dkimkeys.OpenDir(root, dkimkeys.Options{Grace: keystest.Grace, Now: now})
		}
	})
}

// Expired keys' files are deleted at the next rotation.
func TestExpiredKeyFilesRemoved(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "dkim")
	c := &keystest.Clock{}
	c.Add(time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC).Sub(time.Time{}))
	d := dkimkeys.OpenDir(root, dkimkeys.Options{Grace: time.Hour, Now: c.Now})
	sels, err := d.Rotate(ctx, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(2 * time.Hour)
	for range 2 { // the first retires, the second finds them expired
		if _, err := d.Rotate(ctx, "example.test", mailauth.DKIMEd25519); err != nil {
			t.Fatal(err)
		}
		c.Add(2 * time.Hour)
	}
	for _, sel := range sels {
		if _, err := os.Stat(filepath.Join(root, "example.test", sel+".pem")); !os.IsNotExist(err) {
			t.Errorf("expired key %s still on disk: %v", sel, err)
		}
	}
}

func TestFilesPrivateAndComplete(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "dkim")
	d := dkimkeys.OpenDir(root, dkimkeys.Options{})
	if _, err := d.Rotate(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "example.test")
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("domain directory mode %v (%v), want 0700", st.Mode().Perm(), err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	pems := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
		if strings.HasSuffix(e.Name(), ".pem") {
			pems++
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := mailauth.ParseDKIMKey(data); err != nil {
				t.Errorf("%s: %v", e.Name(), err)
			}
		}
	}
	if pems != 2 {
		t.Fatalf("%d key files, want 2", pems)
	}
}

func TestInvalidDomain(t *testing.T) {
	ctx := context.Background()
	d := dkimkeys.OpenDir(t.TempDir(), dkimkeys.Options{})
	for _, dom := range []string{"", "../etc", "a/b.test", "[127.0.0.1]", "nodot"} {
		if _, err := d.Rotate(ctx, dom); err == nil {
			t.Errorf("Rotate(%q) accepted", dom)
		}
		if _, err := d.Active(ctx, dom); err == nil {
			t.Errorf("Active(%q) accepted", dom)
		}
	}
}

// A temporary file left by an interrupted write is never read.
func TestStaleTempFileIgnored(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "dkim")
	d := dkimkeys.OpenDir(root, dkimkeys.Options{})
	if _, err := d.Rotate(ctx, "example.test", mailauth.DKIMEd25519); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(root, "example.test", ".index.json.123.tmp")
	if err := os.WriteFile(junk, []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	sels, err := d.Rotate(ctx, "example.test", mailauth.DKIMEd25519)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := dkimkeys.OpenDir(root, dkimkeys.Options{}).Active(ctx, "example.test")
	if err != nil || len(keys) != 1 || keys[0].Selector != sels[0] {
		t.Fatalf("active %v (%v), want %v", keys, err, sels)
	}
}
