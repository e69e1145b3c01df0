package admin

// Broadcast: one message from a domain's administrator to every enabled account of the
// domain, stored once per shard (one store.Deliver with every account of that shard as a
// target: one blob, one atomic commit) straight into the INBOXes. It is an announcement
// by the operator of the mailboxes, so it does not pass the inbound filters (spam,
// Sieve) that guard against strangers; quotas still apply (an account over quota is
// reported, not delivered).

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"
	"unicode/utf8"

	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// Broadcast bounds.
const (
	MaxBroadcastSubject = 200
	MaxBroadcastBody    = 1 << 20
)

// BroadcastResult reports a broadcast.
type BroadcastResult struct {
	MessageID string   // the Message-ID header
	Delivered int      // accounts that got it
	Failed    []string // addresses that did not (over quota, unknown to their store)
}

// Broadcast sends subject and body (plain text) to every enabled account of domain, from
// the actor's address.
func (c *Scoped) Broadcast(ctx context.Context, domain, subject, body string) (BroadcastResult, error) {
	var res BroadcastResult
	name, err := c.visibleDomain(domain)
	if err != nil {
		return res, err
	}
	if c.a.Account.Role == directory.RoleUser && !c.a.System {
		return res, fmt.Errorf("%w: only administrators broadcast", ErrForbidden)
	}
	subject = strings.TrimSpace(subject)
	switch {
	case subject == "" || len(subject) > MaxBroadcastSubject || strings.ContainsAny(subject, "\r\n") || !utf8.ValidString(subject):
		return res, fmt.Errorf("%w: subject: one line of 1 to %d bytes of UTF-8", directory.ErrInvalid, MaxBroadcastSubject)
	case strings.TrimSpace(body) == "" || len(body) > MaxBroadcastBody || !utf8.ValidString(body):
		return res, fmt.Errorf("%w: body: 1 byte to %d bytes of UTF-8 text", directory.ErrInvalid, MaxBroadcastBody)
	}
	accts, err := c.s.Dir.Accounts(ctx, name)
	if err != nil {
		return res, err
	}
	from := c.a.Name()
	if c.a.System {
		from = "postmaster@" + name
	}
	msg, id, err := composeBroadcast(from, name, subject, body, time.Now())
	if err != nil {
		return res, err
	}
	res.MessageID = id
	byShard := map[string][]directory.Account{}
	var shards []string
	for _, a := range accts {
		if !a.Enabled {
			continue
		}
		if _, ok := byShard[a.Shard]; !ok {
			shards = append(shards, a.Shard)
		}
		byShard[a.Shard] = append(byShard[a.Shard], a)
	}
	var errs []error
	for _, sh := range shards {
		n, failed, err := c.s.deliverAll(ctx, sh, byShard[sh], msg)
		res.Delivered += n
		res.Failed = append(res.Failed, failed...)
		if err != nil {
			errs = append(errs, fmt.Errorf("shard %s: %w", sh, err))
		}
	}
	c.Record(ctx, "domain.broadcast", name, name, fmt.Sprintf("%s %q delivered=%d failed=%d", id, subject, res.Delivered, len(res.Failed)))
	return res, errors.Join(errs...)
}

// deliverAll stores msg once for every account of shard.
func (s *Service) deliverAll(ctx context.Context, shard string, accts []directory.Account, msg []byte) (int, []string, error) {
	var failed []string
	for _, a := range accts {
		failed = append(failed, a.Address.String())
	}
	st, err := s.Shards.Shard(shard)
	if err != nil {
		return 0, failed, err
	}
	d := store.Delivery{Body: bytes.NewReader(msg)}
	for _, a := range accts {
		if err := st.EnsureAccount(ctx, Ref(a)); err != nil {
			return 0, failed, err
		}
		d.Targets = append(d.Targets, store.DeliveryTarget{Account: Ref(a),
			Quota: store.Quota{Bytes: a.QuotaBytes, Messages: a.QuotaMessages}})
	}
	rs, err := st.Deliver(ctx, d)
	if err != nil {
		return 0, failed, err
	}
	failed = failed[:0]
	n := 0
	for i, r := range rs {
		if r.Err != nil {
			failed = append(failed, accts[i].Address.String())
			continue
		}
		n++
	}
	return n, failed, nil
}

// composeBroadcast builds the RFC 5322 message: UTF-8 text in quoted-printable (RFC 2045
// 6.7), the subject as an RFC 2047 encoded word when it is not ASCII, the recipients
// undisclosed (RFC 5322 3.6.3 group syntax).
func composeBroadcast(from, domain, subject, body string, now time.Time) ([]byte, string, error) {
	id := fmt.Sprintf("<broadcast.%s@%s>", strings.ToLower(rand.Text()), domain)
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: \"all users of %s\":;\r\n", domain)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: %s\r\n", id)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	text := strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\r", "\n")
	if _, err := qp.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n"))); err != nil {
		return nil, "", err
	}
	if err := qp.Close(); err != nil {
		return nil, "", err
	}
	b.WriteString("\r\n")
	return b.Bytes(), id, nil
}
