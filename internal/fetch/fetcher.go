package fetch

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"mailgrid/internal/store"
)

// Deliverer stores one fetched message in a folder of its owner (quota applies). A
// permanent refusal (ErrMailboxFull) stops the run; any other error is a fault.
type Deliverer interface {
	Deliver(ctx context.Context, owner store.AccountRef, folder string, body []byte) error
}

// OwnerChecker is a Deliverer that can tell, before a run connects anywhere, whether the
// owner still exists (StoreDeliverer does).
type OwnerChecker interface {
	// CheckOwner returns ErrOwnerGone when the owner account no longer exists.
	CheckOwner(ctx context.Context, owner store.AccountRef) error
}

// ErrOwnerGone is a Deliverer's answer when the local owner account no longer exists: its
// external accounts are removed (Fetcher.RemoveOwner).
var ErrOwnerGone = errors.New("fetch: the local account no longer exists")

// ErrMailboxFull is the owner's quota refusing a message.
var ErrMailboxFull = errors.New("your mailbox is full: fetching stopped, the rest stays on the remote server")

// Options configure a Fetcher.
type Options struct {
	Store   Store
	Deliver Deliverer
	Node    string // names this node in lease holders
	// TLS is the base client configuration (RootCAs for tests); nil is the system's roots.
	TLS *tls.Config
	// Dial opens connections; nil is a net.Dialer.
	Dial Dialer
	// AllowPrivate lets users fetch from loopback, private, link-local and unspecified
	// addresses (config fetch.allow_private; tests). Otherwise every connection goes
	// through the address guard (guard.go), whatever Dial is.
	AllowPrivate bool
	// Resolver looks up remote host names for the guard; nil is net.DefaultResolver.
	Resolver *net.Resolver
	// Tick is how often the schedule looks for due accounts; default 30s.
	Tick time.Duration
	// Timeout bounds each POP3 command; default 60s.
	Timeout time.Duration
	// MaxMessage bounds one fetched message; default 64 MiB.
	MaxMessage int64
	// MaxPerRun bounds the messages one run stores; default 500 (the rest come next run).
	MaxPerRun int
	Now       func() time.Time
	Logger    *slog.Logger
}

// Fetcher runs the schedule of one node and the webmail's Test and Fetch now.
type Fetcher struct {
	opt    Options
	holder string
	key    []byte
	keyMu  sync.Mutex
}

// New returns a Fetcher; Run starts its schedule.
func New(opt Options) (*Fetcher, error) {
	if opt.Store == nil || opt.Deliver == nil {
		return nil, errors.New("fetch: a store and a deliverer are required")
	}
	if opt.Dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second}
		opt.Dial = d.DialContext
	}
	if !opt.AllowPrivate {
		r := opt.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		opt.Dial = guarded(opt.Dial, r)
	}
	if opt.Tick <= 0 {
		opt.Tick = 30 * time.Second
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 60 * time.Second
	}
	if opt.MaxMessage <= 0 {
		opt.MaxMessage = 64 << 20
	}
	if opt.MaxPerRun <= 0 {
		opt.MaxPerRun = 500
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, err
	}
	return &Fetcher{opt: opt, holder: opt.Node + "/" + hex.EncodeToString(r[:])}, nil
}

// Store is the accounts' store the Fetcher runs from.
func (f *Fetcher) Store() Store { return f.opt.Store }

// Key returns the sealing key (read once from the store).
func (f *Fetcher) Key(ctx context.Context) ([]byte, error) {
	f.keyMu.Lock()
	defer f.keyMu.Unlock()
	if f.key != nil {
		return f.key, nil
	}
	k, err := f.opt.Store.Key(ctx)
	if err != nil {
		return nil, err
	}
	if len(k) != KeySize {
		return nil, errKey
	}
	f.key = k
	return k, nil
}

// Run fetches due accounts every Tick until ctx ends.
func (f *Fetcher) Run(ctx context.Context) {
	t := time.NewTicker(f.opt.Tick)
	defer t.Stop()
	for {
		f.RunDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunDue fetches, one after the other, the accounts due now whose lease this node gets.
func (f *Fetcher) RunDue(ctx context.Context) {
	due, err := f.opt.Store.Due(ctx, f.opt.Now(), 50)
	if err != nil {
		if ctx.Err() == nil {
			f.opt.Logger.Error("fetch: due accounts", "err", err)
		}
		return
	}
	for _, a := range due {
		if ctx.Err() != nil {
			return
		}
		if _, err := f.Fetch(ctx, a); err != nil && !errors.Is(err, ErrBusy) && !errors.Is(err, ErrOwnerGone) {
			f.opt.Logger.Info("fetch: run failed", "owner", a.Owner.Domain, "account", a.ID, "remote", a.Addr(), "err", err)
		}
	}
}

// ownerGone removes the external accounts of a's deleted owner and returns why.
func (f *Fetcher) ownerGone(ctx context.Context, a Account, why error) error {
	n, err := f.RemoveOwner(ctx, a.Owner)
	if err != nil {
		return errors.Join(why, err)
	}
	f.opt.Logger.Info("fetch: removed the external accounts of a deleted account", "owner", a.Owner.Domain, "id", a.Owner.ID, "accounts", n)
	return why
}

// RemoveOwner deletes every external account of owner with its remembered UIDLs (the
// owner account was deleted); it returns how many there were. The schedule calls it when
// the Deliverer reports ErrOwnerGone; account deletion may call it directly.
func (f *Fetcher) RemoveOwner(ctx context.Context, owner store.AccountRef) (int, error) {
	return f.opt.Store.DeleteOwner(ctx, owner)
}

// TestTimeout bounds Test.
const TestTimeout = 30 * time.Second

// ErrBusy is an account whose lease another run holds.
var ErrBusy = errors.New("a fetch of this account is already running; try again in a moment")

// Fetch runs one fetch of a under its lease and records the result on the account. It
// returns ErrBusy when the lease is held elsewhere.
func (f *Fetcher) Fetch(ctx context.Context, a Account) (Result, error) {
	if oc, ok := f.opt.Deliver.(OwnerChecker); ok {
		if err := oc.CheckOwner(ctx, a.Owner); errors.Is(err, ErrOwnerGone) {
			return Result{}, f.ownerGone(ctx, a, err)
		} else if err != nil {
			return Result{}, err
		}
	}
	now := f.opt.Now()
	ok, err := f.opt.Store.Claim(ctx, a.ID, f.holder, now, now.Add(LeaseTime))
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return Result{}, ErrBusy
	}
	rctx, cancel := context.WithTimeout(ctx, LeaseTime-time.Minute)
	res := f.run(rctx, a)
	cancel()
	if errors.Is(res.Err, ErrOwnerGone) {
		// Deleted while this run was under way: nothing to record on.
		return res, f.ownerGone(ctx, a, res.Err)
	}
	msg := ""
	if res.Err != nil {
		msg = clip(res.Err.Error())
	}
	// Record even when ctx ended, so the lease is freed.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer fcancel()
	if err := f.opt.Store.Finish(fctx, a.ID, f.holder, f.opt.Now(), res.Fetched, msg); err != nil {
		return res, errors.Join(res.Err, err)
	}
	return res, res.Err
}

// Test connects to a and logs in with password, then quits; it reports the number of
// messages waiting. Nothing is fetched or recorded. It takes at most TestTimeout (a page
// waits for it).
func (f *Fetcher) Test(ctx context.Context, a Account, password string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, min(TestTimeout, 2*f.opt.Timeout))
	defer cancel()
	c, err := dialPOP3(ctx, f.opt.Dial, a, password, f.opt.TLS, f.opt.Timeout)
	if err != nil {
		return 0, err
	}
	ids, err := c.uidl(ctx)
	if err != nil {
		return 0, remote(errors.Join(err, c.close()))
	}
	return len(ids), remote(c.quit(ctx))
}

// run is one session: log in, list, store what is new, delete what is stored (delete
// mode), quit.
func (f *Fetcher) run(ctx context.Context, a Account) Result {
	key, err := f.Key(ctx)
	if err != nil {
		return Result{Err: err}
	}
	password, err := Open(key, a.Secret)
	if err != nil {
		return Result{Err: err}
	}
	c, err := dialPOP3(ctx, f.opt.Dial, a, password, f.opt.TLS, f.opt.Timeout)
	if err != nil {
		return Result{Err: err}
	}
	res, left := f.session(ctx, c, a)
	if res.Err != nil {
		// Without QUIT the remote deletes nothing (RFC 1939 6).
		if err := c.close(); err != nil {
			f.opt.Logger.Debug("fetch: close", "err", err)
		}
		return res
	}
	if err := remote(c.quit(ctx)); err != nil {
		// The deletions may not have happened: keep every UIDL, so a message still
		// listed next time is deleted again, not fetched again.
		res.Err = err
		return res
	}
	// The remote has expunged what was marked: remember only what it still holds.
	if err := f.opt.Store.Forget(ctx, a.ID, left); err != nil {
		res.Err = err
	} else if res.Skipped > 0 {
		res.Err = fmt.Errorf("%d message(s) on the remote are larger than %d bytes: left there", res.Skipped, f.opt.MaxMessage)
	}
	return res
}

// session stores what is new and marks what is stored for deletion (delete mode); it
// returns the UIDLs that stay on the remote after QUIT.
func (f *Fetcher) session(ctx context.Context, c *client, a Account) (Result, map[string]bool) {
	var res Result
	ids, err := c.uidl(ctx)
	if err != nil {
		return Result{Err: remote(err)}, nil
	}
	sizes, err := c.list(ctx)
	if err != nil {
		return Result{Err: remote(err)}, nil
	}
	seen, err := f.opt.Store.Seen(ctx, a.ID)
	if err != nil {
		return Result{Err: err}, nil
	}
	nums := make([]int, 0, len(ids))
	left := map[string]bool{}
	for n, u := range ids {
		nums = append(nums, n)
		left[u] = true
	}
	sort.Ints(nums)
	for _, n := range nums {
		u := ids[n]
		if !seen[u] {
			if res.Fetched == f.opt.MaxPerRun {
				continue
			}
			if sizes[n] > f.opt.MaxMessage {
				res.Skipped++
				continue
			}
			if err := f.store(ctx, c, a, n, u); err != nil {
				res.Err = err
				return res, nil
			}
			res.Fetched++
			seen[u] = true
		}
		if !a.Keep && seen[u] {
			if err := c.dele(ctx, n); err != nil {
				res.Err = remote(err)
				return res, nil
			}
			res.Deleted++
			delete(left, u)
		}
	}
	return res, left
}

// store retrieves message n, stores it locally, then remembers its UIDL.
func (f *Fetcher) store(ctx context.Context, c *client, a Account, n int, uidl string) error {
	body, err := c.retr(ctx, n, f.opt.MaxMessage)
	if err != nil {
		return remote(err)
	}
	if err := f.opt.Deliver.Deliver(ctx, a.Owner, a.Folder, body); err != nil {
		return err
	}
	return f.opt.Store.Remember(ctx, a.ID, uidl)
}
