package dkimkeys

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"mailgrid/internal/mail"
	"mailgrid/internal/mailauth"
)

// indexFile is the per-domain marker of active and retired selectors.
const indexFile = "index.json"

// index is the content of indexFile.
type index struct {
	Keys []entry `json:"keys"`
}

// entry is one key of a domain. Retired is zero for an active key.
type entry struct {
	Selector  string                 `json:"selector"`
	Algorithm mailauth.DKIMAlgorithm `json:"algorithm"`
	Created   time.Time              `json:"created"`
	Retired   time.Time              `json:"retired,omitzero"`
}

// Dir keeps keys in files under a directory (DATA/dkim). It is safe for concurrent use
// and caches parsed keys per domain until the domain's index changes on disk.
type Dir struct {
	root  string
	grace time.Duration
	now   func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

// cached is the active keys of a domain as of one version of its index file.
type cached struct {
	mod  time.Time
	size int64
	ino  uint64 // rename replaces the file: a new inode
	keys []mailauth.DKIMKey
}

// Options configure a Dir.
type Options struct {
	Grace time.Duration    // how long retired keys stay published; 0 = DefaultGrace
	Now   func() time.Time // nil = time.Now
}

// OpenDir returns the key store rooted at root (created on first rotation).
func OpenDir(root string, o Options) *Dir {
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Dir{root: root, grace: o.Grace, now: o.Now, cache: map[string]cached{}}
}

var _ Keys = (*Dir)(nil)

// domainDir validates domain (it becomes a path element) and returns its directory.
func (d *Dir) domainDir(domain string) (string, string, error) {
	name, err := mail.ParseDomain(domain)
	if err != nil || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return "", "", fmt.Errorf("dkim keys: invalid domain %q", domain)
	}
	return name, filepath.Join(d.root, name), nil
}

// Active implements Keys.
func (d *Dir) Active(ctx context.Context, domain string) ([]mailauth.DKIMKey, error) {
	name, dir, err := d.domainDir(domain)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(filepath.Join(dir, indexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	d.mu.Lock()
	c, ok := d.cache[name]
	d.mu.Unlock()
	if ok && c.mod.Equal(st.ModTime()) && c.size == st.Size() && c.ino == inode(st) {
		return c.keys, nil
	}
	idx, err := readIndex(dir)
	if err != nil {
		return nil, err
	}
	var keys []mailauth.DKIMKey
	for _, e := range idx.Keys {
		if !e.Retired.IsZero() {
			continue
		}
		s, err := readKey(dir, e.Selector)
		if err != nil {
			return nil, err
		}
		keys = append(keys, mailauth.DKIMKey{Domain: name, Selector: e.Selector, Signer: s})
	}
	d.mu.Lock()
	d.cache[name] = cached{mod: st.ModTime(), size: st.Size(), ino: inode(st), keys: keys}
	d.mu.Unlock()
	return keys, nil
}

// Rotate implements Keys. Keys retired longer ago than the grace period are deleted.
func (d *Dir) Rotate(ctx context.Context, domain string, algs ...mailauth.DKIMAlgorithm) (_ []string, err error) {
	name, dir, err := d.domainDir(domain)
	if err != nil {
		return nil, err
	}
	if len(algs) == 0 {
		algs = DefaultAlgorithms()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	idx, err := readIndex(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Second)
	var kept []entry
	var stale []string
	for _, e := range idx.Keys {
		if e.Retired.IsZero() {
			e.Retired = now
		}
		if now.Sub(e.Retired) > d.grace {
			stale = append(stale, e.Selector)
			continue
		}
		kept = append(kept, e)
	}
	var sels []string
	var fresh []entry
	for _, alg := range algs {
		sel, err := d.newKey(dir, alg, now, append(kept, fresh...))
		if err != nil {
			return nil, err
		}
		sels = append(sels, sel)
		fresh = append(fresh, entry{Selector: sel, Algorithm: alg, Created: now})
	}
	if err := writeIndex(dir, index{Keys: append(fresh, kept...)}); err != nil {
		return nil, err
	}
	for _, sel := range stale {
		if err := os.Remove(filepath.Join(dir, sel+".pem")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return sels, fmt.Errorf("dkim keys: removing expired key of %s: %w", name, err)
		}
	}
	return sels, nil
}

// newKey generates a key, stores it under the first free selector of the month and
// returns the selector.
func (d *Dir) newKey(dir string, alg mailauth.DKIMAlgorithm, now time.Time, taken []entry) (string, error) {
	key, err := mailauth.GenerateDKIMKey(alg)
	if err != nil {
		return "", err
	}
	pemData, err := mailauth.MarshalDKIMKey(key)
	if err != nil {
		return "", err
	}
	sel, err := NextSelector(now, func(sel string) bool {
		if slices.ContainsFunc(taken, func(e entry) bool { return e.Selector == sel }) {
			return true
		}
		_, err := os.Stat(filepath.Join(dir, sel+".pem"))
		return err == nil // a leftover of an expired key or an interrupted rotation: never reuse
	})
	if err != nil {
		return "", err
	}
	if err := writeAtomic(dir, sel+".pem", pemData); err != nil {
		return "", err
	}
	return sel, nil
}

// Records implements Keys.
func (d *Dir) Records(ctx context.Context, domain string) ([]Record, error) {
	name, dir, err := d.domainDir(domain)
	if err != nil {
		return nil, err
	}
	idx, err := readIndex(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := d.now()
	var out []Record
	for _, e := range idx.Keys {
		if !Published(e.Retired, d.grace, now) {
			continue
		}
		s, err := readKey(dir, e.Selector)
		if err != nil {
			return nil, err
		}
		r, err := MakeRecord(name, e.Selector, e.Algorithm, e.Created, e.Retired, d.grace, s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	SortRecords(out)
	return out, nil
}

func readIndex(dir string) (index, error) {
	var idx index
	data, err := os.ReadFile(filepath.Join(dir, indexFile))
	if err != nil {
		return idx, fmt.Errorf("dkim keys: %w", err)
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return idx, fmt.Errorf("dkim keys: %s: %w", filepath.Join(dir, indexFile), err)
	}
	return idx, nil
}

func writeIndex(dir string, idx index) error {
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("dkim keys: %w", err)
	}
	return writeAtomic(dir, indexFile, append(data, '\n'))
}

func readKey(dir, selector string) (crypto.Signer, error) {
	data, err := os.ReadFile(filepath.Join(dir, selector+".pem"))
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	return mailauth.ParseDKIMKey(data)
}

// writeAtomic writes name in dir through a synced temporary file (mode 0600) renamed
// into place, then syncs the directory, so the file is either the old one or the whole
// new one, also after a crash.
func writeAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("dkim keys: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("dkim keys: writing %s: %w", name, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// lockDir takes an exclusive flock on dir/.lock (released by the returned function):
// rotations of one domain by several processes take turns.
func lockDir(dir string) (func() error, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return nil, errors.Join(fmt.Errorf("dkim keys: lock: %w", err), f.Close())
	}
	return f.Close, nil // closing the file releases the lock
}

// inode returns the file's inode number (0 where the platform has none).
func inode(st fs.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}
