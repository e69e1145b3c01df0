// Package trainer trains each account's Bayes classifier from what the user does with
// mail, whatever the client (IMAP, webmail): it watches the store's committed changes
// (package bus, Bus.Observe) and reads the messages the user judged.
//
// What counts as a judgement (one commit's changes are one batch):
//
//   - spam: a message moved into the account's Junk mailbox — found by its special-use
//     \Junk (RFC 6154), never by name — that is, a batch that adds messages to Junk and
//     expunges from another mailbox (MOVE, RFC 6851; the store commits a move as one);
//     or a message whose flags gain $Junk (RFC 5788 keyword, set by Thunderbird and
//     others).
//   - ham: a message moved out of Junk into any mailbox but Trash (a batch that adds to
//     that mailbox and expunges from Junk); or a message flagged $NotJunk.
//
// Deliveries never train: a delivery adds without expunging, so mail the filters filed
// in Junk is not fed back to the classifier that put it there. A plain COPY into Junk
// does not train either (only a move or the keyword says the user judged it).
//
// Training is idempotent per message body (filter.TrainLog, by the store's BlobID): a
// message trained as spam and then moved out of Junk is untrained as spam and trained as
// ham; moving it in again does the reverse; the same judgement twice trains once.
//
// Delivery of changes: Observe is called in the bus's Publish and never blocks: batches
// are queued (Options.Queue) and a full queue drops them, logged (training is best
// effort; losing one costs a judgement, never mail). Run works the queue in one
// goroutine. In a cluster every node sees every change (the bus carries other nodes'
// changes too); with the shared filter state the TrainLog makes the second node's
// training of a judgement a no-op, except when two nodes handle the same judgement at
// the same moment (then it counts twice).
package trainer

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"

	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/bayes"
	"mailgrid/internal/store"
)

// Keywords users set on judged messages (RFC 5788 registry; Thunderbird, Apple Mail).
const (
	KeywordJunk    = "$Junk"
	KeywordNotJunk = "$NotJunk"
)

// Options configure a Trainer.
type Options struct {
	Directory directory.Directory // finds an account's shard
	Shards    store.Shards
	Tokens    filter.Tokens
	Log       filter.TrainLog
	Logger    *slog.Logger
	Bayes     bayes.Options
	Queue     int // batches waiting to be worked; 0 = 1024
	// Trained, if set, is called after each judgement is recorded (tests wait on it).
	Trained func(acct store.AccountRef, blob string, class bayes.Class)
}

// Trainer is the training worker. Observe feeds it; Run works.
type Trainer struct {
	o       Options
	log     *slog.Logger
	ch      chan []store.Change
	dropped atomic.Int64
}

// New returns a Trainer.
func New(o Options) *Trainer {
	if o.Queue <= 0 {
		o.Queue = 1024
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Trainer{o: o, log: o.Logger, ch: make(chan []store.Change, o.Queue)}
}

// Observe queues a batch of committed changes (the signature of bus.Bus.Observe). It
// never blocks; a full queue drops the batch.
func (t *Trainer) Observe(changes []store.Change) {
	keep := candidates(changes)
	if len(keep) == 0 {
		return
	}
	select {
	case t.ch <- keep:
	default:
		if n := t.dropped.Add(1); n == 1 || n%1000 == 0 {
			t.log.Warn("junk trainer queue full; judgements dropped", "dropped", n)
		}
	}
}

// candidates keeps the changes of the accounts whose batch can hold a judgement: a move
// (a message added and one expunged in one commit) or a $Junk/$NotJunk keyword. Plain
// deliveries, appends, flag changes and expunges — nearly all traffic — never queue, so
// the queue holds only what the user decided.
func candidates(changes []store.Change) []store.Change {
	type seen struct{ add, exp, keyword bool }
	by := map[store.AccountRef]*seen{}
	for _, c := range changes {
		a := by[c.Account]
		if a == nil {
			a = &seen{}
			by[c.Account] = a
		}
		switch c.Kind {
		case store.MessageAdded:
			a.add = true
		case store.MessageExpunged:
			a.exp = true
		case store.FlagsChanged:
			a.keyword = a.keyword || slices.Contains(c.Flags, KeywordJunk) || slices.Contains(c.Flags, KeywordNotJunk)
		}
	}
	var keep []store.Change
	for _, c := range changes {
		switch c.Kind {
		case store.MessageAdded, store.MessageExpunged, store.FlagsChanged:
			if a := by[c.Account]; (a.add && a.exp) || a.keyword {
				keep = append(keep, c)
			}
		}
	}
	return keep
}

// Run works the queue until ctx ends.
func (t *Trainer) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case batch := <-t.ch:
			t.batch(ctx, batch)
		}
	}
}

// judgement is one message to train.
type judgement struct {
	mbox  store.MailboxID
	uid   store.UID
	class bayes.Class
}

// batch handles one commit's changes, per account.
func (t *Trainer) batch(ctx context.Context, changes []store.Change) {
	var accts []store.AccountRef
	for _, c := range changes {
		if !slices.Contains(accts, c.Account) {
			accts = append(accts, c.Account)
		}
	}
	for _, acct := range accts {
		var mine []store.Change
		for _, c := range changes {
			if c.Account == acct {
				mine = append(mine, c)
			}
		}
		if err := t.account(ctx, acct, mine); err != nil && ctx.Err() == nil {
			t.log.Warn("junk training failed", "domain", acct.Domain, "account", acct.ID, "err", err)
		}
	}
}

func (t *Trainer) account(ctx context.Context, acct store.AccountRef, changes []store.Change) error {
	// A batch with only flag changes that name no judgement keyword needs no store read.
	if !worthReading(changes) {
		return nil
	}
	a, err := t.o.Directory.AccountByID(ctx, acct.Domain, acct.ID)
	if errors.Is(err, directory.ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	st, err := t.o.Shards.Shard(a.Shard)
	if err != nil {
		return err
	}
	boxes, err := st.Mailboxes(ctx, acct)
	if err != nil {
		return err
	}
	use := map[store.MailboxID]string{}
	for _, b := range boxes {
		use[b.ID] = b.SpecialUse
	}
	for _, j := range judgements(changes, use) {
		if err := t.train(ctx, st, acct, j); err != nil {
			return err
		}
	}
	return nil
}

func worthReading(changes []store.Change) bool {
	for _, c := range changes {
		if c.Kind != store.FlagsChanged || slices.Contains(c.Flags, KeywordJunk) || slices.Contains(c.Flags, KeywordNotJunk) {
			return true
		}
	}
	return false
}

// judgements reads the user's judgements out of one account's batch; use maps the
// account's mailboxes to their special-use.
func judgements(changes []store.Change, use map[store.MailboxID]string) []judgement {
	expungedFrom := map[bool]bool{} // junk? -> some message left such a mailbox
	for _, c := range changes {
		if c.Kind == store.MessageExpunged {
			expungedFrom[use[c.Mailbox] == store.Junk] = true
		}
	}
	var out []judgement
	for _, c := range changes {
		switch c.Kind {
		case store.MessageAdded:
			into := use[c.Mailbox]
			switch {
			case into == store.Junk && expungedFrom[false]:
				out = append(out, judgement{c.Mailbox, c.UID, bayes.Spam}) // moved into Junk
			case into != store.Junk && into != store.Trash && expungedFrom[true]:
				out = append(out, judgement{c.Mailbox, c.UID, bayes.Ham}) // moved out of Junk
			}
		case store.FlagsChanged:
			junk, notJunk := slices.Contains(c.Flags, KeywordJunk), slices.Contains(c.Flags, KeywordNotJunk)
			switch {
			case junk && !notJunk:
				out = append(out, judgement{c.Mailbox, c.UID, bayes.Spam})
			case notJunk && !junk:
				out = append(out, judgement{c.Mailbox, c.UID, bayes.Ham})
			}
		}
	}
	return out
}

// train applies one judgement: untrain the other class if the body was trained so,
// train this one unless it already is.
func (t *Trainer) train(ctx context.Context, st store.Store, acct store.AccountRef, j judgement) error {
	var msg *store.Message
	err := st.Messages(ctx, acct, j.mbox, store.Query{MinUID: j.uid, MaxUID: j.uid, NoMeta: true}, func(m store.Message) error {
		msg = &m
		return nil
	})
	if errors.Is(err, store.ErrNotFound) || err == nil && msg == nil {
		return nil // gone meanwhile (moved on, expunged)
	}
	if err != nil {
		return err
	}
	prev, trained, err := t.o.Log.TrainedAs(ctx, acct, msg.BlobID)
	if err != nil {
		return err
	}
	if trained && prev == j.class {
		return nil
	}
	blob, err := st.OpenBlob(ctx, acct, msg.ID)
	if err != nil {
		return err
	}
	defer func() {
		if err := blob.Close(); err != nil {
			t.log.Warn("junk trainer: close body", "err", err)
		}
	}()
	toks, err := bayes.Tokenize(blob)
	if err != nil {
		return err
	}
	c := bayes.New(t.o.Tokens.Tokens(acct), t.o.Bayes)
	if trained {
		if err := c.UpdateTokens(ctx, toks, prev, -1); err != nil {
			return err
		}
	}
	if err := c.UpdateTokens(ctx, toks, j.class, 1); err != nil {
		return err
	}
	if err := t.o.Log.SetTrained(ctx, acct, msg.BlobID, j.class); err != nil {
		return err
	}
	t.log.Info("junk training", "domain", acct.Domain, "account", acct.ID, "class", j.class.String(), "retrained", trained)
	if t.o.Trained != nil {
		t.o.Trained(acct, msg.BlobID, j.class)
	}
	return nil
}
