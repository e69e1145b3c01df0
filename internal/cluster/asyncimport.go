package cluster

import (
	"context"
	"log/slog"

	"mailgrid/internal/store"
)

// Asynchronous imports. A target that offers them (the PostgreSQL store) commits the
// copy rounds' transactions without waiting for its disk; the copy is made durable
// before placement switches (fenced, after the final round), and the target checks
// itself that nothing it acknowledged can have been lost before it records a mailbox's
// watermark. Until the switch the source holds the account: a crash of the target's
// server loses at most the newest imports, the target is then as the copy stood
// earlier, and a run resumed later asks the target which UIDs it holds and copies the
// rest (sync.go). Options.SyncImports turns this off.

// asyncTarget is the optional add-on of a store.Importer: a second handle on the same
// target whose commits do not wait for the disk.
type asyncTarget interface {
	AsyncImporter(ctx context.Context) (store.Importer, error)
}

// asyncHandle is what such a handle must also do: make every earlier commit durable
// (failing if any may have been lost), and close.
type asyncHandle interface {
	FlushCommits(ctx context.Context) error
	Close() error
}

// asyncFlusher is the durability step of the importer in use; its zero value belongs
// to a synchronous importer and does nothing.
type asyncFlusher struct{ h asyncHandle }

// asyncImports returns the importer to copy with: imp's asynchronous handle when it has
// one (and sync is false), else imp.
func asyncImports(ctx context.Context, imp store.Importer, sync bool) (store.Importer, asyncFlusher, error) {
	at, ok := imp.(asyncTarget)
	if sync || !ok {
		return imp, asyncFlusher{}, nil
	}
	a, err := at.AsyncImporter(ctx)
	if err != nil {
		return nil, asyncFlusher{}, err
	}
	h, ok := a.(asyncHandle)
	if !ok { // not usable: its commits could never be made durable
		return imp, asyncFlusher{}, nil
	}
	return a, asyncFlusher{h: h}, nil
}

func (f asyncFlusher) flush(ctx context.Context) error {
	if f.h == nil {
		return nil
	}
	return f.h.FlushCommits(ctx)
}

func (f asyncFlusher) close(log *slog.Logger) {
	if f.h == nil {
		return
	}
	if err := f.h.Close(); err != nil {
		log.Warn("closing the asynchronous import handle", "err", err)
	}
}
