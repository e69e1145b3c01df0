package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"mailgrid/internal/cluster"
	"mailgrid/internal/directory"
)

// TestKilledAfterSwitch stops a move between the placement switch and the source's Drop
// while a delivery that resolved the account to the source waits on the fence (the
// fence then ends without Drop, as when the moving process is killed): the delivery does not commit on the old shard (a temporary
// failure; its retry lands on the target); the source keeps refusing writes; the same
// command run again finishes the move with nothing to salvage; every message is on the
// target once.
func TestKilledAfterSwitch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, ref := e.account("frank@example.test", "s1")
	seed(t, e.st["s1"], ref, "INBOX", 30, 2048)
	before := messageIDs(t, e.st["s1"], ref)
	done := make(chan error, 1)
	killed := errors.New("killed after the switch")
	cluster.SetHook(e.eng, func(point string) error {
		if point == "switched" {
			return killed
		}
		go func() { // resolved to the source, it waits on the fence
			envl := deliveryEnvelope("frank@example.test")
			res, err := e.pipe.Deliver(ctx, envl, bytesReader(message("waiter@remote.test", 2048)))
			if err == nil && res[0].Err != nil {
				err = res[0].Err
			}
			done <- err
		}()
		waitLockWaiter(t, e.dsn["s1"])
		return nil
	})
	if _, err := e.eng.Move(ctx, a.Address, "s2"); !errors.Is(err, killed) {
		t.Fatalf("move: %v, want it stopped after the switch", err)
	}
	select {
	case err := <-done:
		if !isTemporary(err) {
			t.Fatalf("the delivery that waited on the fence: %v, want a temporary failure", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the delivery that waited on the fence never returned")
	}
	if got := messageIDs(t, e.st["s1"], ref); len(got) != len(before) {
		t.Errorf("the old shard holds %d messages after the switch, want the %d of before", len(got), len(before))
	}
	if cur, _ := e.dir.AccountByID(ctx, ref.Domain, ref.ID); cur.Shard != "s2" {
		t.Fatalf("placement %q, want s2", cur.Shard)
	}
	if _, err := e.deliver(ctx, "frank@example.test", "waiter@remote.test"); err != nil {
		t.Fatalf("retry: %v", err)
	}
	cluster.SetHook(e.eng, nil)
	m, err := e.eng.Move(ctx, a.Address, "s2")
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if m.State != directory.MigrationDone {
		t.Errorf("resumed migration %s/%s", m.State, m.Phase)
	}
	if _, err := e.st["s1"].Usage(ctx, ref); err == nil {
		t.Error("the source still holds the account")
	}
	ids := messageIDs(t, e.st["s2"], ref)
	if len(ids) != len(before)+1 {
		t.Errorf("the target holds %d messages, want %d", len(ids), len(before)+1)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("message %s held %d times", id, n)
		}
	}
}
