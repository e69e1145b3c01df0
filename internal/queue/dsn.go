package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"mailgrid/internal/message"
)

// DSN policy (RFC 3461, RFC 3464):
//   - one DSN per round for every recipient whose outcome asked for it (Outcome.DSN):
//     failed and expired recipients (Action: failed) and, when SUCCESS was asked and the
//     next hop could not take the request further, delivered ones (Action: relayed);
//   - one delay warning per item (Action: delayed) once the item is DelayWarning old,
//     for the recipients still queued whose NOTIFY includes DELAY;
//   - never to the null sender; sent from the null reverse-path (RFC 5321 4.5.5) so a
//     DSN is never bounced in turn;
//   - a failure DSN returns the original message (RET=FULL or no RET, up to
//     DSNFullLimit) or its headers (RET=HDRS, or too large); a delay or relay DSN
//     returns headers only.
// A DSN stays pending (durably, Outcome.DSN) until Submit accepted it, so a crash or a
// Submit error re-sends it rather than losing it. WriteDSN (dsnwrite.go) composes it.

// sendDSNs submits one DSN for every recipient with a pending DSN, then clears them.
func (s *Scheduler) sendDSNs(ctx context.Context, it *Item, log *slog.Logger) {
	var entries []DSNRecipient
	var addrs []string
	for _, r := range it.Recipients {
		if !r.DSNPending {
			continue
		}
		addrs = append(addrs, r.Addr)
		if e, ok := finalEntry(r); ok && it.Envelope.From != "" {
			entries = append(entries, e)
		}
	}
	if len(addrs) == 0 {
		return
	}
	if len(entries) > 0 {
		if err := s.submitDSN(ctx, it, entries); err != nil {
			log.Error("submit DSN", slog.String("to", it.Envelope.From), slog.Any("err", err))
			return // stays pending: retried next round
		}
		log.Info("DSN sent", slog.String("to", it.Envelope.From), slog.Int("recipients", len(entries)))
	}
	if err := s.q.Notified(ctx, it.ID, addrs, false); err != nil {
		log.Error("record DSN sent", slog.Any("err", err))
		return
	}
	for i := range it.Recipients {
		it.Recipients[i].DSNPending = false
	}
}

// finalEntry describes a recipient in a final state for a DSN.
func finalEntry(r RecipientStatus) (DSNRecipient, bool) {
	switch r.State {
	case StateFailed:
		return dsnRecipient(r, ActionFailed, statusOf(r.LastReply, 5)), true
	case StateExpired:
		// RFC 3463 4.4.7: delivery time expired; a persistent transient failure keeps
		// its 4.x.x class (as Postfix does) while the action is "failed".
		st := statusOf(r.LastReply, 4)
		if st == "4.0.0" {
			st = "4.4.7"
		}
		return dsnRecipient(r, ActionFailed, st), true
	case StateDelivered:
		return dsnRecipient(r, ActionRelayed, statusOf(r.LastReply, 2)), true
	}
	return DSNRecipient{}, false
}

// dsnRecipient is the DSN block of a recipient.
func dsnRecipient(r RecipientStatus, action, status string) DSNRecipient {
	return DSNRecipient{
		Addr: r.Addr, ORcpt: orcptField(r.ORcpt), Action: action, Status: status,
		RemoteMTA: r.RemoteMTA, Reply: r.LastReply, LastAttempt: r.LastAttempt,
	}
}

// orcptField spells an ORCPT "addr-type; address" in the queue's reports (RFC 3464
// 2.3.1 allows the space); a value without an address type is dropped.
func orcptField(v string) string {
	typ, addr, ok := strings.Cut(v, ";")
	if !ok {
		return ""
	}
	return strings.TrimSpace(typ) + "; " + strings.TrimSpace(addr)
}

// delayWarning sends the one "delayed" DSN of an item once it is DelayWarning old.
func (s *Scheduler) delayWarning(ctx context.Context, it *Item, now time.Time, log *slog.Logger) {
	if it.DelayWarned || s.opt.DelayWarning < 0 || now.Sub(it.Queued) < s.opt.DelayWarning {
		return
	}
	pending := it.Pending()
	if len(pending) == 0 {
		return
	}
	var entries []DSNRecipient
	for _, r := range pending {
		if notifies(it.Envelope, r.Recipient, NotifyDelay) {
			entries = append(entries, dsnRecipient(r, ActionDelayed, statusOf(r.LastReply, 4)))
		}
	}
	if len(entries) > 0 {
		if err := s.submitDSN(ctx, it, entries); err != nil {
			log.Error("submit delay DSN", slog.String("to", it.Envelope.From), slog.Any("err", err))
			return
		}
		log.Info("delay DSN sent", slog.String("to", it.Envelope.From), slog.Int("recipients", len(entries)))
	}
	if err := s.q.Notified(ctx, it.ID, nil, true); err != nil {
		log.Error("record delay DSN sent", slog.Any("err", err))
		return
	}
	it.DelayWarned = true
}

// statusOf returns the RFC 3463 status for a reply in the given class (2, 4 or 5): the
// reply's enhanced code when it is of that class, else class.0.0 (RFC 3463 3.1).
func statusOf(r Reply, class int) string {
	if strings.HasPrefix(r.Enhanced, fmt.Sprintf("%d.", class)) {
		return r.Enhanced
	}
	return fmt.Sprintf("%d.0.0", class)
}

// submitDSN composes a DSN for rcpts into an unlinked temporary file (WriteDSN) and
// hands it to Submit.
func (s *Scheduler) submitDSN(ctx context.Context, it *Item, rcpts []DSNRecipient) (err error) {
	if s.opt.Submit == nil {
		s.log.Warn("no DSN submitter configured: DSN dropped", slog.String("id", it.ID))
		return nil
	}
	body, err := s.q.OpenBody(ctx, it.ID)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, body.Close()) }()
	r := DSNReport{
		ReportingMTA: s.opt.Hostname,
		To:           it.Envelope.From,
		Date:         s.opt.Now(),
		EnvID:        it.Envelope.EnvID,
		QueueID:      it.ID,
		Arrival:      it.Queued,
		RetryUntil:   it.Queued.Add(s.opt.Lifetime),
		SMTPUTF8:     it.Envelope.SMTPUTF8,
		Recipients:   rcpts,
		Original:     body,
		ReturnFull:   s.returnsFull(it, rcpts),
	}
	sp := message.NewSpool(s.opt.TempDir, 0)
	defer func() { err = errors.Join(err, sp.Close()) }()
	if err := WriteDSN(sp, r); err != nil {
		return fmt.Errorf("compose DSN: %w", err)
	}
	return s.opt.Submit(ctx, Envelope{SMTPUTF8: r.UTF8()}, it.Envelope.From, sp)
}

// returnsFull reports whether the whole original goes into a DSN: for failures, unless
// RET=HDRS or it exceeds DSNFullLimit (RFC 3461 4.3 leaves the default to the MTA).
// Delay and relay reports return the header section only.
func (s *Scheduler) returnsFull(it *Item, rcpts []DSNRecipient) bool {
	if strings.EqualFold(it.Envelope.Ret, "HDRS") || it.Size > s.opt.DSNFullLimit {
		return false
	}
	return slices.ContainsFunc(rcpts, func(e DSNRecipient) bool { return e.Action == ActionFailed })
}
