package sqlite

// Announcements (store.Announcer) reach this process's bus at once, and the sessions of
// other processes that opened the same shard through a small file beside store.db:
// `mailgrid user del` run from the command line is a process of its own, and the
// sessions to end belong to the `mailgrid serve` process.
//
// The file (announce.log) holds one JSON line per change, {"o":origin,"k":kind,"d":
// domain,"a":account}, appended with one write on a descriptor opened O_APPEND, so lines
// of concurrent writers do not mix. A process with Options.AnnouncePoll set (the serving
// one) reads what was appended since its last look at that interval, from the size it
// found at Open on, and publishes the lines of other origins (its own went to its bus
// when announced). A line still being written (no newline yet) waits for the next look.
// Announcements are rare (an operator deleting or disabling accounts), so the file stays
// small; a writer that finds it past announceMax and untouched for announceQuiet (every
// reader has read it long since) truncates it first, and a reader that finds it shorter
// than its offset starts again at its beginning.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"mailgrid/internal/store"
)

const (
	announceFile  = "announce.log"
	announceMax   = 1 << 20
	announceQuiet = time.Minute
)

// announceLine is one line of the file.
type announceLine struct {
	O string           `json:"o"`
	K store.ChangeKind `json:"k"`
	D string           `json:"d"`
	A int64            `json:"a"`
}

// announcer is the store's side of the file: its origin, and the reader of a serving
// process.
type announcer struct {
	path   string
	origin string
	mu     sync.Mutex // orders writers of this process (the truncation check)
	stop   chan struct{}
	done   chan struct{}
}

// startAnnouncer prepares the file of dir and, with poll > 0, starts reading it.
func (s *Store) startAnnouncer(poll time.Duration) error {
	a := &announcer{path: filepath.Join(s.dir, announceFile), origin: newOrigin()}
	s.ann = a
	if poll <= 0 {
		return nil
	}
	fi, err := os.Stat(a.path)
	var off int64
	switch {
	case err == nil:
		off = fi.Size()
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("sqlite store: %w", err)
	}
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	go s.readAnnouncements(poll, off)
	return nil
}

// newOrigin returns a random id for this process's lines: 16 hex digits.
func newOrigin() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// closeAnnouncer stops the reader, if any.
func (s *Store) closeAnnouncer() {
	if a := s.ann; a != nil && a.stop != nil {
		close(a.stop)
		<-a.done
	}
}

// Announce implements store.Announcer: the changes go to the Publisher at once and to
// the file for the other processes of the shard.
func (s *Store) Announce(ctx context.Context, changes ...store.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(changes) == 0 {
		return nil
	}
	var b bytes.Buffer
	for _, c := range changes {
		line, err := json.Marshal(announceLine{O: s.ann.origin, K: c.Kind, D: c.Account.Domain, A: c.Account.ID})
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := s.ann.append(b.Bytes()); err != nil {
		return fmt.Errorf("sqlite store: announce: %w", err)
	}
	s.publish(changes)
	return nil
}

// append writes p to the file in one write, truncating a large, quiet file first.
func (a *announcer) append(p []byte) (err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if fi, err := f.Stat(); err == nil && fi.Size() > announceMax && time.Since(fi.ModTime()) > announceQuiet {
		if err := f.Truncate(0); err != nil {
			return err
		}
	}
	_, err = f.Write(p)
	return err
}

// readAnnouncements looks at the file every poll and publishes other origins' lines.
func (s *Store) readAnnouncements(poll time.Duration, off int64) {
	a := s.ann
	defer close(a.done)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
		}
		next, changes, err := a.read(off)
		if err != nil {
			s.log.Warn("sqlite store: reading announcements", "err", err)
			continue
		}
		off = next
		s.publish(changes)
	}
}

// read returns the complete lines of other origins from off on, and the offset after
// them.
func (a *announcer) read(off int64) (_ int64, _ []store.Change, err error) {
	f, err := os.Open(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return off, nil, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	fi, err := f.Stat()
	if err != nil {
		return off, nil, err
	}
	if fi.Size() < off { // truncated by a writer
		off = 0
	}
	if fi.Size() == off {
		return off, nil, nil
	}
	buf := make([]byte, fi.Size()-off)
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return off, nil, err
	}
	buf = buf[:n]
	end := bytes.LastIndexByte(buf, '\n') + 1
	var changes []store.Change
	for line := range bytes.Lines(buf[:end]) {
		var l announceLine
		if err := json.Unmarshal(line, &l); err != nil || l.D == "" || !l.K.EndsSessions() {
			continue // not ours to act on
		}
		if l.O != a.origin {
			changes = append(changes, store.Change{Kind: l.K, Account: store.AccountRef{Domain: l.D, ID: l.A}})
		}
	}
	return off + int64(end), changes, nil
}

var _ store.Announcer = (*Store)(nil)
