// Package keystest is the conformance suite of dkimkeys.Keys: every keeper (the files of
// the embedded shape, the PostgreSQL directory of a cluster) runs it.
package keystest

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/mailauth"
)

// Grace is the grace period keepers under test must be opened with.
const Grace = 48 * time.Hour

// Clock is a settable test clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Storage opens keepers over one fresh storage, in which domain "example.test" may hold
// keys; every keeper it opens sees the same keys (two processes, or two nodes), with
// Grace and the clock's Now.
type Storage func(now func() time.Time) dkimkeys.Keys

// Run runs the suite; fresh gives a new, empty storage for each test.
func Run(t *testing.T, fresh func(t *testing.T) Storage) {
	t.Run("RotateActiveRecords", func(t *testing.T) { testRotate(t, fresh(t)) })
	t.Run("OtherKeeperSeesRotation", func(t *testing.T) { testOtherKeeper(t, fresh(t)) })
	t.Run("ConcurrentRotations", func(t *testing.T) { testConcurrent(t, fresh(t)) })
}

func testRotate(t *testing.T, open Storage) {
	ctx := context.Background()
	c := &Clock{t: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)}
	d := open(c.Now)

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

	// Rotation a day later: the new key signs, the old ones stay published for the grace.
	c.Add(24 * time.Hour)
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
	want, err := mailauth.DKIMRecord(keys[0].Signer.Public())
	if err != nil || recs[0].TXT != want {
		t.Fatalf("active record %q, want %q (%v)", recs[0].TXT, want, err)
	}

	// After the grace period the retired keys are no longer published, and a later
	// rotation never reuses their selectors.
	c.Add(Grace + time.Hour)
	if recs, err = d.Records(ctx, "example.test"); err != nil || len(recs) != 1 {
		t.Fatalf("records after grace: %+v %v", recs, err)
	}
	if _, err := d.Rotate(ctx, "example.test", mailauth.DKIMEd25519); err != nil {
		t.Fatal(err)
	}
	if recs, err = d.Records(ctx, "example.test"); err != nil || len(recs) != 2 || recs[0].Selector != "mg2026114" {
		t.Fatalf("records after third rotation: %+v %v", recs, err)
	}
}

// A second keeper over the same storage (the server while the CLI rotates, or another
// node) signs with the new key after a rotation.
func testOtherKeeper(t *testing.T, open Storage) {
	ctx := context.Background()
	cli, server := open(time.Now), open(time.Now)
	if _, err := cli.Rotate(ctx, "example.test", mailauth.DKIMEd25519); err != nil {
		t.Fatal(err)
	}
	first, err := server.Active(ctx, "example.test")
	if err != nil || len(first) != 1 {
		t.Fatalf("%v %v", first, err)
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

// Rotations of one domain by several keepers at once take turns: every selector is
// distinct and exactly the last rotation's key is active.
func testConcurrent(t *testing.T, open Storage) {
	ctx := context.Background()
	const n = 4
	var wg sync.WaitGroup
	sels := make([][]string, n)
	errs := make([]error, n)
	for i := range n {
		k := open(time.Now)
		wg.Go(func() { sels[i], errs[i] = k.Rotate(ctx, "example.test", mailauth.DKIMEd25519) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil || len(sels[i]) != 1 || seen[sels[i][0]] {
			t.Fatalf("rotation %d: %v %v (seen %v)", i, sels[i], errs[i], seen)
		}
		seen[sels[i][0]] = true
	}
	keys, err := open(time.Now).Active(ctx, "example.test")
	if err != nil || len(keys) != 1 {
		t.Fatalf("active after concurrent rotations: %v %v", keys, err)
	}
	recs, err := open(time.Now).Records(ctx, "example.test")
	if err != nil || len(recs) != n {
		t.Fatalf("records: %d %v, want %d", len(recs), err, n)
	}
}
