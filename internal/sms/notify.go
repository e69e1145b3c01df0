package sms

import (
	"context"
	"errors"
	"mime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
)

// Notification texts are at most notifyText bytes: one SMS of GSM 03.38 text.
const notifyText = 160

// Defaults of NotifierOptions.
const (
	DefaultQueue   = 1024
	DefaultWorkers = 2
)

// job is one notification to send.
type job struct {
	acct directory.Account
	msg  Message
}

// NotifierOptions configure a Notifier.
type NotifierOptions struct {
	Queue   int // notifications waiting; 0 = DefaultQueue; a full queue drops (logged)
	Workers int // concurrent senders; 0 = DefaultWorkers
	// Sent, if set, is called after each notification's last attempt with its outcome
	// (tests wait on it).
	Sent func(acct directory.Account, m Message, attempts int, err error)
}

// Notifier sends the SMS notifications the mailet queues. Run works the queue.
type Notifier struct {
	svc     *Service
	o       NotifierOptions
	ch      chan job
	dropped atomic.Int64
}

// NewNotifier returns a Notifier sending through svc.
func NewNotifier(svc *Service, o NotifierOptions) *Notifier {
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	return &Notifier{svc: svc, o: o, ch: make(chan job, o.Queue)}
}

// Dropped is the number of notifications dropped because the queue was full.
func (n *Notifier) Dropped() int64 { return n.dropped.Load() }

// enqueue queues j without blocking.
func (n *Notifier) enqueue(j job) {
	select {
	case n.ch <- j:
	default:
		n.dropped.Add(1)
		n.svc.log.Warn("sms: notification queue full; dropped", "account", j.acct.Address.String())
	}
}

// Run sends queued notifications with o.Workers workers until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range n.o.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-n.ch:
					n.send(ctx, j)
				}
			}
		})
	}
	wg.Wait()
}

// send makes the attempts of one notification: the first, then up to Retries more after
// a temporary failure, waiting RetryDelay, then twice as long each time.
func (n *Notifier) send(ctx context.Context, j job) {
	log := n.svc.log.With("account", j.acct.Address.String(), "to", j.msg.To)
	err := n.svc.AllowedFor(ctx, j.acct)
	attempts := 0
	if err == nil {
		cfg := n.svc.gw.Config()
		delay := cfg.RetryDelay
		for {
			attempts++
			err = n.svc.gw.Send(ctx, j.msg)
			if err == nil || !errors.Is(err, ErrTemporary) || attempts > cfg.Retries {
				break
			}
			log.Info("sms: notification failed; will retry", "attempt", attempts, "err", err)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				err = errors.Join(err, ctx.Err())
			case <-t.C:
			}
			if ctx.Err() != nil {
				break
			}
			delay *= 2
		}
	}
	switch {
	case err == nil:
		n.svc.count(ctx, j.acct, directory.SMSNotify)
		log.Info("sms: notification sent", "attempts", attempts)
	case errors.Is(err, ErrNotInPlan), errors.Is(err, ErrOff):
		log.Info("sms: notification not sent", "why", err)
	default:
		log.Warn("sms: notification not sent; giving up", "attempts", attempts, "err", err)
	}
	if n.o.Sent != nil {
		n.o.Sent(j.acct, j.msg, attempts, err)
	}
}

// Mailet returns the notification mailet to add at filter.StageLocal (fail-open). It
// reads the account's rule and queues a notification for a matching copy that is filed
// in INBOX (not one a rule or the spam filter filed elsewhere, dropped or rejected); it
// never changes the mail, never blocks on the gateway, and a directory fault only skips
// the notification (logged), so deliveries never wait for or fail because of SMS.
func (n *Notifier) Mailet() filter.Mailet { return &notifyMailet{n: n} }

type notifyMailet struct{ n *Notifier }

func (m *notifyMailet) Name() string { return "sms-notify" }

func (m *notifyMailet) Stages() []filter.Stage { return []filter.Stage{filter.StageLocal} }

func (m *notifyMailet) Service(ctx context.Context, ml *filter.Mail) error {
	if ml.Account == nil || ml.Message == nil || !m.n.svc.Enabled() || !toInbox(ml.Recipients) {
		return nil
	}
	a := *ml.Account
	rule, err := m.n.svc.store.SMSRule(ctx, a.ID)
	if errors.Is(err, directory.ErrNotFound) {
		return nil
	}
	if err != nil {
		ml.Logger.Warn("sms: read rule; no notification", "account", a.Address.String(), "err", err)
		return nil
	}
	from, subject := headerText(ml.Message, "From"), headerText(ml.Message, "Subject")
	if !rule.Matches(from, subject) {
		return nil
	}
	m.n.enqueue(job{acct: a, msg: Message{To: rule.Phone, Text: NotificationText(from, subject)}})
	return nil
}

// toInbox reports whether a recipient's copy is delivered into INBOX.
func toInbox(rs []*filter.Recipient) bool {
	for _, r := range rs {
		for _, f := range r.Fate.Filings() {
			if f.Mailbox == "" || strings.EqualFold(f.Mailbox, "INBOX") {
				return true
			}
		}
	}
	return false
}

// headerText is the first field named name, RFC 2047 decoded when it can be ("" when
// absent or unreadable).
func headerText(m *filter.Message, name string) string {
	vs, err := m.Header(name)
	if err != nil || len(vs) == 0 {
		return ""
	}
	dec := mime.WordDecoder{}
	if s, err := dec.DecodeHeader(vs[0]); err == nil {
		return s
	}
	return vs[0]
}

// NotificationText is the SMS of a new message: "Mail from FROM: SUBJECT", at most one
// SMS long, control characters removed.
func NotificationText(from, subject string) string {
	clean := func(s string) string {
		return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' }), " ")
	}
	t := "Mail from " + clean(from)
	if s := clean(subject); s != "" {
		t += ": " + s
	}
	return Truncate(t, notifyText)
}
