package dkimkeys_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/mailauth"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestRotateActiveRecords(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "dkim")
	c := &clock{t: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)}
	d := dkimkeys.OpenDir(root, dkimkeys.Options{Grace: 48 * time.Hour, Now: c.now})

	if keys, err := d.Active(ctx, "example.test"); err != nil || len(keys) != 0 {
		t.Fatalf("no keys yet: %v %v", keys, err)
	}
	if recs, err := d.Records(ctx, "example.test"); err != nil || len(recs) != 0 {
		t.Fatalf("no records yet: %v %v", recs, err)
	}
	sels, err := d.Rotate(ctx, "Example.TEST")
	if err != nil {
		t.Fatal(err)
	}
	if len(sels) != 2 || sels[0] != "mg2026111" || sels[1] != "mg2026112" {
		t.Fatalf("selectors %v, want [mg2026111 mg2026112]", sels)
	}
	keys, err := d.Active(ctx, "example.test")
	if err != nil || len(keys) != 2 {
		t.Fatalf("active: %v %v", keys, err)
	}
	if _, ok := keys[0].Signer.(ed25519.PrivateKey); !ok || keys[0].Selector != "mg2026111" || keys[0].Domain != "example.test" {
		t.Fatalf("first key %+v, want ed25519 mg2026111 of example.test", keys[0])
	}
	if k, ok := keys[1].Signer.(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 {
		t.Fatalf("second key is %T, want RSA-2048", keys[1].Signer)
	}

	// Rotation a day later: new key signs, old ones stay published within the grace period.
	c.t = c.t.Add(24 * time.Hour)
	sel2, err := d.Rotate(ctx, "example.test", mailauth.DKIMEd25519)
	if err != nil || len(sel2) != 1 || sel2[0] != "mg2026113" {
		t.Fatalf("second rotation: %v %v", sel2, err)
	}
	keys, err = d.Active(ctx, "example.test")
	if err != nil || len(keys) != 1 || keys[0].Selector != "mg2026113" {
		t.Fatalf("active after rotation: %v %v", keys, err)
	}
	recs, err := d.Records(ctx, "example.test")
	if err != nil || len(recs) != 3 {
		t.Fatalf("records: %v %v", recs, err)
	}
	if !recs[0].Active || recs[0].Selector != "mg2026113" || recs[1].Active || recs[1].Until == nil {
		t.Fatalf("records order/state: %+v", recs)
	}
	for _, r := range recs {
		if r.Name != r.Selector+"._domainkey.example.test" || !strings.HasPrefix(r.TXT, "v=DKIM1; k="+string(r.Algorithm)+"; p=") ||
			!strings.HasPrefix(r.Zone, r.Name+". IN TXT (") {
			t.Errorf("record %+v", r)
		}
	}
	pub := keys[0].Signer.Public()
	want, err := mailauth.DKIMRecord(pub)
	if err != nil || recs[0].TXT != want {
		t.Fatalf("active record %q, want %q (%v)", recs[0].TXT, want, err)
	}

	// After the grace period the retired keys are no longer published, and the next
	// rotation deletes their files.
	c.t = c.t.Add(49 * time.Hour)
	if recs, err = d.Records(ctx, "example.test"); err != nil || len(recs) != 1 {
		t.Fatalf("records after grace: %+v %v", recs, err)
	}
	if _, err := d.Rotate(ctx, "example.test", mailauth.DKIMEd25519); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "example.test")
	for _, sel := range []string{"mg2026111", "mg2026112"} {
		if _, err := os.Stat(filepath.Join(dir, sel+".pem")); !os.IsNotExist(err) {
			t.Errorf("expired key %s still on disk: %v", sel, err)
		}
	}
	if recs, err = d.Records(ctx, "example.test"); err != nil || len(recs) != 2 || recs[0].Selector != "mg2026114" {
		t.Fatalf("records after third rotation: %+v %v", recs, err)
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

// TestReaderSeesRotation: a second store over the same directory (the server while the
// CLI rotates) picks up the new active key, and a stale temporary file from an
// interrupted write is never read.
func TestReaderSeesRotation(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "dkim")
	cli := dkimkeys.OpenDir(root, dkimkeys.Options{})
	server := dkimkeys.OpenDir(root, dkimkeys.Options{})
	if _, err := cli.Rotate(ctx, "example.test", mailauth.DKIMEd25519); err != nil {
		t.Fatal(err)
	}
	first, err := server.Active(ctx, "example.test")
	if err != nil || len(first) != 1 {
		t.Fatalf("%v %v", first, err)
	}
	// An interrupted write leaves a temporary file; it must not disturb anything.
	junk := filepath.Join(root, "example.test", ".index.json.123.tmp")
	if err := os.WriteFile(junk, []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	sels, err := cli.Rotate(ctx, "example.test", mailauth.DKIMEd25519)
	if err != nil {
		t.Fatal(err)
	}
	second, err := server.Active(ctx, "example.test")
	if err != nil || len(second) != 1 || second[0].Selector != sels[0] || second[0].Selector == first[0].Selector {
		t.Fatalf("server sees %v (%v), want %v", second, err, sels)
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
