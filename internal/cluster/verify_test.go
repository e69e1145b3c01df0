package cluster_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"mailgrid/internal/cluster"
	"mailgrid/internal/store"
)

// TestVerifyNamesDifference copies an account, then changes one message's flags on the
// target without touching any mailbox counter or HIGHESTMODSEQ (only the per-message
// comparison, the digests, can see it): Verify fails and names the UID.
func TestVerifyNamesDifference(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, ref := e.account("erin@example.test", "s1")
	seed(t, e.st["s1"], ref, "INBOX", 20, 2048)
	if _, err := e.eng.Copy(ctx, a.Address, "s2"); err != nil {
		t.Fatal(err)
	}
	src, dst := e.st["s1"], e.st["s2"]
	if _, err := cluster.Verify(ctx, src, dst, ref); err != nil {
		t.Fatalf("verify after the copy: %v", err)
	}
	box := mustBox(t, dst, ref, "INBOX")
	var m5 store.Message
	if err := dst.Messages(ctx, ref, box, store.Query{MinUID: 5, MaxUID: 5, NoMeta: true}, func(m store.Message) error {
		m5 = m
		return nil
	}); err != nil || m5.UID != 5 {
		t.Fatalf("UID 5 on the target: %+v %v", m5, err)
	}
	if err := dst.ImportMessages(ctx, ref, box, []store.ImportMessage{{UID: 5, ModSeq: m5.ModSeq,
		Flags: append(m5.Flags, "$Changed"), InternalDate: m5.InternalDate}}); err != nil {
		t.Fatal(err)
	}
	_, err := cluster.Verify(ctx, src, dst, ref)
	if !errors.Is(err, cluster.ErrMismatch) || !strings.Contains(err.Error(), "UID 5") {
		t.Errorf("verify after changing UID 5 on the target: %v", err)
	}
}
