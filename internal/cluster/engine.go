package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
)

// Engine runs migrations. Its fields are set once; it is safe for sequential use (one
// migration at a time per Engine; the journal's lock keeps processes apart).
type Engine struct {
	Dir     directory.Directory
	Journal directory.MigrationJournal
	Shards  store.Shards
	Log     *slog.Logger
	Owner   string // recorded in the journal: who runs it (host:pid)
	Options Options
	// Progress, when set, is called after every journal update.
	Progress func(directory.Migration)

	hook func(point string) error // tests: runs at "fenced" and "switched"; an error stops the run there
}

// Move moves the account at addr to the target shard (see the package doc).
func (e *Engine) Move(ctx context.Context, addr mail.Address, target string) (directory.Migration, error) {
	return e.run(ctx, addr, target, directory.MigrationMove)
}

// Copy copies the account at addr to the target shard and keeps it where it is: a
// verified copy (a backup, or the first half of a move done later). Running it again
// brings the copy up to date.
func (e *Engine) Copy(ctx context.Context, addr mail.Address, target string) (directory.Migration, error) {
	return e.run(ctx, addr, target, directory.MigrationCopy)
}

// unfinished returns the account's unfinished migration, if any.
func (e *Engine) unfinished(ctx context.Context, accountID int64) (directory.Migration, bool, error) {
	ms, err := e.Journal.Migrations(ctx, true)
	if err != nil {
		return directory.Migration{}, false, err
	}
	for _, m := range ms {
		if m.AccountID == accountID {
			return m, true, nil
		}
	}
	return directory.Migration{}, false, nil
}

func (e *Engine) run(ctx context.Context, addr mail.Address, target string, kind directory.MigrationKind) (directory.Migration, error) {
	log := discardLogger(e.Log)
	acct, err := e.Dir.Account(ctx, addr)
	if err != nil {
		return directory.Migration{}, err
	}
	if _, err := e.Shards.Shard(target); err != nil {
		return directory.Migration{}, fmt.Errorf("target shard %q: %w", target, err)
	}
	release, err := e.Journal.LockMigration(ctx, acct.ID)
	if err != nil {
		return directory.Migration{}, err
	}
	defer release()
	if acct.Shard == target {
		// Only a move that already switched (its cleanup unfinished) gets here legitimately.
		m, ok, err := e.unfinished(ctx, acct.ID)
		if err != nil {
			return m, err
		}
		if !ok || m.Kind != kind || m.Target != target || m.Phase == directory.PhaseCopy || m.Phase == directory.PhaseFence {
			return m, fmt.Errorf("%w: %s is already on shard %q", directory.ErrInvalid, addr, target)
		}
	}
	m, resumed, err := e.Journal.StartMigration(ctx, directory.Migration{AccountID: acct.ID, Domain: acct.Address.Domain,
		Address: acct.Address.String(), Kind: kind, Source: acct.Shard, Target: target, Owner: e.Owner})
	if err != nil {
		return m, err
	}
	if resumed {
		log.Info("migration resumed", "id", m.ID, "account", m.Address, "phase", m.Phase, "from", m.Source, "to", m.Target)
	}
	r := &runner{e: e, m: m, log: log.With("migration", m.ID, "account", m.Address),
		ref: store.AccountRef{Domain: acct.Address.Domain, ID: acct.ID}, opt: e.Options.withDefaults()}
	err = r.do(ctx, acct)
	if err != nil {
		r.m.State, r.m.Error = directory.MigrationFailed, err.Error()
		r.save(context.WithoutCancel(ctx))
		return r.m, err
	}
	return r.m, nil
}

// runner is one migration in progress.
type runner struct {
	e   *Engine
	m   directory.Migration
	ref store.AccountRef
	opt Options
	log *slog.Logger
}

// save journals r.m; a journal that cannot be written is logged, not fatal: the next
// save or the re-run writes it.
func (r *runner) save(ctx context.Context) {
	if err := r.e.Journal.SaveMigration(ctx, r.m); err != nil {
		r.log.Warn("journal", "err", err)
	}
	if r.e.Progress != nil {
		r.e.Progress(r.m)
	}
}

// stores opens both shards' stores and checks what the migration needs of them.
func (r *runner) stores() (src, dst store.Store, imp store.Importer, fen store.Fencer, err error) {
	if src, err = r.e.Shards.Shard(r.m.Source); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("source shard %q: %w", r.m.Source, err)
	}
	if dst, err = r.e.Shards.Shard(r.m.Target); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("target shard %q: %w", r.m.Target, err)
	}
	var ok bool
	if imp, ok = dst.(store.Importer); !ok {
		return nil, nil, nil, nil, fmt.Errorf("%w: shard %q cannot be a migration target", directory.ErrInvalid, r.m.Target)
	}
	if fen, ok = src.(store.Fencer); !ok {
		return nil, nil, nil, nil, fmt.Errorf("%w: shard %q cannot be a migration source", directory.ErrInvalid, r.m.Source)
	}
	return src, dst, imp, fen, nil
}

func (r *runner) do(ctx context.Context, acct directory.Account) error {
	if r.m.Source == r.m.Target {
		return fmt.Errorf("%w: source and target are the same shard", directory.ErrInvalid)
	}
	src, dst, imp, fen, err := r.stores()
	if err != nil {
		return err
	}
	if r.m.Phase == directory.PhaseSwitched || r.m.Phase == directory.PhaseCleanup {
		return r.cleanup(ctx, src, dst, fen)
	}
	if acct.Shard != r.m.Source {
		return fmt.Errorf("%w: the account is on shard %q, the migration is from %q", directory.ErrInvalid, acct.Shard, r.m.Source)
	}
	if r.m.Phase == directory.PhaseFence {
		// An earlier run may have sealed the source and stopped before the switch: the
		// directory (read under the journal's lock: only we switch) says the account is
		// still there, so its writes may resume while we copy again.
		if err := fen.Unseal(ctx, r.ref); err != nil {
			return fmt.Errorf("unseal the source: %w", err)
		}
	}
	imp, flush, err := asyncImports(ctx, imp, r.opt.SyncImports)
	if err != nil {
		return err
	}
	defer flush.close(r.log)
	s := &syncer{src: src, dst: dst, imp: imp, ref: r.ref, opt: r.opt, flush: flush}
	r.m.Phase, r.m.Error = directory.PhaseCopy, ""
	r.save(ctx)
	for i := 0; ; i++ {
		start := time.Now()
		n, err := s.round(ctx)
		r.m.Messages, r.m.Bytes = r.m.Messages+s.messages, r.m.Bytes+s.bytes
		if err != nil {
			return err
		}
		r.m.Rounds++
		r.log.Info("migration round", "round", r.m.Rounds, "changes", n, "copied", s.messages, "bytes", s.bytes,
			"took", time.Since(start))
		s.messages, s.bytes = 0, 0
		r.save(ctx)
		if n <= r.opt.FenceBelow || i+1 >= r.opt.MaxRounds {
			break
		}
	}
	return r.fenced(ctx, s, fen)
}

// fenced runs steps 3 and 4 of the package doc.
func (r *runner) fenced(ctx context.Context, s *syncer, fen store.Fencer) error {
	r.m.Phase = directory.PhaseFence
	r.save(ctx)
	fctx, cancel := context.WithTimeout(ctx, r.opt.FenceTimeout)
	defer cancel()
	f, err := fen.Fence(fctx, r.ref)
	if err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	start := time.Now()
	held := true
	defer func() {
		if held {
			if err := f.Release(); err != nil {
				r.log.Warn("fence release", "err", err)
			}
		}
	}()
	if err := r.testHook("fenced"); err != nil {
		return err
	}
	n, err := s.round(fctx)
	r.m.Messages, r.m.Bytes = r.m.Messages+s.messages, r.m.Bytes+s.bytes
	s.messages, s.bytes = 0, 0
	if err != nil {
		return fmt.Errorf("final round: %w", err)
	}
	r.m.Rounds++
	tRound := time.Since(start)
	rep, err := Verify(fctx, s.src, s.dst, r.ref)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	// The copy durable before placement may switch (a copy: before it counts as done).
	if err := s.flush.flush(fctx); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	tVerify := time.Since(start) - tRound
	if r.m.Kind == directory.MigrationCopy {
		held = false
		if err := f.Release(); err != nil {
			return fmt.Errorf("fence release: %w", err)
		}
	} else {
		// The seal first: writers waiting on the fence never commit on the source once
		// placement may have switched, even if this process dies before the Drop (the
		// fence's transaction then rolls back and lets them through).
		if err := f.Seal(fctx); err != nil {
			return fmt.Errorf("seal the source: %w", err)
		}
		if err := r.e.Journal.SwitchShard(fctx, r.m); err != nil {
			if err := r.notSwitched(ctx, fen, err); err != nil {
				return err
			}
		}
		r.m.Phase = directory.PhaseSwitched
		if err := r.testHook("switched"); err != nil {
			return err // the deferred Release: the fence ends without Drop, as if killed
		}
		held = false
		if err := f.Drop(fctx); err != nil {
			return fmt.Errorf("placement switched; deleting the source copy: %w (run the command again to finish)", err)
		}
	}
	fenced := time.Since(start)
	r.m.FenceMS = fenced.Milliseconds()
	if r.m.Kind == directory.MigrationMove {
		if err := f.Purge(ctx); err != nil { // the next Fence of the account purges too
			r.log.Warn("deleting the source copy's mail", "err", err)
		}
	}
	r.m.Phase, r.m.State = directory.PhaseDone, directory.MigrationDone
	r.log.Info("migration done", "kind", r.m.Kind, "final_changes", n, "mailboxes", rep.Mailboxes,
		"messages", rep.Messages, "bytes", rep.Bytes, "fence", fenced, "fence_final_round", tRound,
		"fence_verify", tVerify, "fence_switch_drop", fenced-tRound-tVerify, "purge", time.Since(start)-fenced)
	r.save(ctx)
	return nil
}

func (r *runner) testHook(point string) error {
	if r.e.hook == nil {
		return nil
	}
	return r.e.hook(point)
}

// notSwitched handles a SwitchShard that failed: its commit may have happened with the
// answer lost. It returns nil if placement is the target (the move goes on, dropping the
// source, as the journal's phase, written in the same commit, says). If placement is
// still the source, the seal goes and the move fails; if the directory cannot tell, the
// seal stays (the account's writes fail temporarily) until the command runs again.
func (r *runner) notSwitched(ctx context.Context, fen store.Fencer, switchErr error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	a, err := r.e.Dir.AccountByID(cctx, r.ref.Domain, r.ref.ID)
	switch {
	case err != nil:
		return fmt.Errorf("switch placement: %w (placement unknown: %v; the source stays sealed, run the command again)", switchErr, err)
	case a.Shard == r.m.Target:
		return nil
	}
	if err := fen.Unseal(cctx, r.ref); err != nil {
		return fmt.Errorf("switch placement: %w (and unseal the source: %v; run the command again)", switchErr, err)
	}
	return fmt.Errorf("switch placement: %w", switchErr)
}

// cleanup finishes a move whose placement already switched: anything that reached the
// source after the switch is delivered to the target (new UIDs), then the source copy
// goes.
func (r *runner) cleanup(ctx context.Context, src, dst store.Store, fen store.Fencer) error {
	r.m.Phase = directory.PhaseCleanup
	r.save(ctx)
	fctx, cancel := context.WithTimeout(ctx, r.opt.FenceTimeout)
	defer cancel()
	f, err := fen.Fence(fctx, r.ref)
	if err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	n, err := salvage(fctx, src, dst, r.ref)
	if err != nil {
		if rerr := f.Release(); rerr != nil {
			r.log.Warn("fence release", "err", rerr)
		}
		return fmt.Errorf("cleanup: %w", err)
	}
	if n > 0 {
		r.log.Warn("messages reached the source after the switch; delivered to the target with new UIDs", "messages", n)
	}
	if err := f.Drop(fctx); err != nil {
		return fmt.Errorf("cleanup: delete the source copy: %w", err)
	}
	if err := f.Purge(ctx); err != nil {
		r.log.Warn("deleting the source copy's mail", "err", err)
	}
	r.m.Phase, r.m.State = directory.PhaseDone, directory.MigrationDone
	r.save(ctx)
	return nil
}

// salvage delivers to dst every source message that dst does not hold with the same
// UID and body, into the mailbox of the same name (INBOX if it is gone), with its flags.
func salvage(ctx context.Context, src, dst store.Store, ref store.AccountRef) (int, error) {
	sb, err := mailboxes(ctx, src, ref)
	if err != nil {
		return 0, err
	}
	db, err := mailboxes(ctx, dst, ref)
	if err != nil {
		return 0, err
	}
	byV := map[uint32]store.Mailbox{}
	for _, d := range db {
		byV[d.UIDValidity] = d
	}
	n := 0
	for _, s := range sb {
		held := map[store.UID]string{}
		if d, ok := byV[s.UIDValidity]; ok {
			if err := dst.Messages(ctx, ref, d.ID, store.Query{NoMeta: true}, func(m store.Message) error {
				held[m.UID] = m.BlobID
				return nil
			}); err != nil {
				return n, err
			}
		}
		var late []store.Message
		if err := src.Messages(ctx, ref, s.ID, store.Query{NoMeta: true}, func(m store.Message) error {
			if held[m.UID] != m.BlobID {
				late = append(late, m)
			}
			return nil
		}); err != nil {
			return n, err
		}
		for _, m := range late {
			if err := redeliver(ctx, src, dst, ref, s.Name, m); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func redeliver(ctx context.Context, src, dst store.Store, ref store.AccountRef, mailbox string, m store.Message) error {
	bl, err := src.OpenBlob(ctx, ref, m.ID)
	if err != nil {
		return err
	}
	defer func() { _ = bl.Close() }() // read-only
	flags := slices.DeleteFunc(slices.Clone(m.Flags), func(f string) bool { return f == `\Recent` })
	res, err := dst.Deliver(ctx, store.Delivery{Body: bl, InternalDate: m.InternalDate,
		Targets: []store.DeliveryTarget{{Account: ref, Mailbox: mailbox, Flags: flags}}})
	if err == nil && len(res) == 1 {
		err = res[0].Err
	}
	if err != nil {
		return fmt.Errorf("redeliver UID %d of %q: %w", m.UID, mailbox, err)
	}
	return nil
}

// Cancel abandons the account's unfinished migration if it has not switched placement:
// the target's partial copy is deleted and the journal says cancelled. A migration past
// the switch cannot be cancelled (run it again to finish).
func (e *Engine) Cancel(ctx context.Context, addr mail.Address) (directory.Migration, error) {
	acct, err := e.Dir.Account(ctx, addr)
	if err != nil {
		return directory.Migration{}, err
	}
	release, err := e.Journal.LockMigration(ctx, acct.ID)
	if err != nil {
		return directory.Migration{}, err
	}
	defer release()
	m, ok, err := e.unfinished(ctx, acct.ID)
	switch {
	case err != nil:
		return m, err
	case !ok:
		return m, fmt.Errorf("%w: no unfinished migration of %s", directory.ErrNotFound, addr)
	case m.Phase != directory.PhaseCopy && m.Phase != directory.PhaseFence:
		return m, fmt.Errorf("%w: migration %d already switched placement; run it again to finish", directory.ErrInvalid, m.ID)
	}
	if src, err := e.Shards.Shard(m.Source); err == nil {
		if fen, ok := src.(store.Fencer); ok { // a run stopped between its seal and the switch
			if err := fen.Unseal(ctx, store.AccountRef{Domain: acct.Address.Domain, ID: acct.ID}); err != nil {
				return m, fmt.Errorf("unseal the source: %w", err)
			}
		}
	}
	if m.Kind == directory.MigrationMove { // a copy's target may be an older, complete backup: keep it
		dst, err := e.Shards.Shard(m.Target)
		if err != nil {
			return m, err
		}
		if err := dst.DeleteAccount(ctx, store.AccountRef{Domain: acct.Address.Domain, ID: acct.ID}); err != nil {
			return m, fmt.Errorf("delete the target copy: %w", err)
		}
	}
	m.State, m.Error = directory.MigrationCancelled, ""
	return m, e.Journal.SaveMigration(ctx, m)
}

// Placer picks the target shard for an account leaving a shard (Drain).
type Placer func(ctx context.Context, acct directory.Account) (string, error)

// Drain moves every account off shard, one at a time, placing each with place. Accounts
// with an unfinished migration off the shard resume it (same target). It stops at the
// first failure; running it again continues. progress, when set, is told of each
// finished move.
func (e *Engine) Drain(ctx context.Context, shard string, place Placer, progress func(directory.Migration)) (int, error) {
	pending, err := e.Journal.Migrations(ctx, true)
	if err != nil {
		return 0, err
	}
	resume := map[int64]string{}
	for _, m := range pending {
		if m.Kind == directory.MigrationMove && m.Source == shard {
			resume[m.AccountID] = m.Target
		}
	}
	accts, err := e.Dir.Accounts(ctx, "")
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, a := range accts {
		target, again := resume[a.ID]
		if a.Shard != shard && !again {
			continue
		}
		if !again {
			if target, err = place(ctx, a); err != nil {
				return moved, fmt.Errorf("%s: place: %w", a.Address, err)
			}
		}
		m, err := e.Move(ctx, a.Address, target)
		if err != nil {
			return moved, fmt.Errorf("%s: %w", a.Address, err)
		}
		moved++
		if progress != nil {
			progress(m)
		}
	}
	return moved, nil
}

// IsBusy reports whether err says another process migrates the account.
func IsBusy(err error) bool { return errors.Is(err, directory.ErrBusy) }
