package delivery

import (
	"context"
	"strings"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
)

// Directory aliases that forward off-site (alias@hosted -> someone@elsewhere) send the
// message on at DATA time, in the same commit as the local copies, not after it as a
// redirect does; the rules are the redirects' (redirect.go, srs.go):
//
//   - Sender: with Options.SRS, the copy of a foreign sender is queued with an SRS0
//     sender of the alias's domain, so the next hop's SPF check (RFC 7208) sees a domain
//     that authorises us and its bounce comes back to us, who send it on (srsTarget). A
//     sender of a local domain, the null sender and an address already in SRS form keep
//     their form. The alias's local targets are stored as before.
//   - Loops: the queued copy carries "Delivered-To: alias" (as Postfix's local(8)
//     writes it). A message that comes back with that field already in it, or with
//     MaxReceived or more Received fields (RFC 5321 6.3), is not forwarded again: the
//     recipient is refused with 554 5.4.6 when the alias has no local target, else the
//     local copies are stored and the loop is logged.
//   - A bounce routed back through an SRS address (srsTarget) is queued to the
//     original sender with the envelope sender it came with (the null sender, RFC 5321
//     4.5.5), neither rewritten nor marked.

// MaxReceived is the Received count at which a message is taken to loop (RFC 5321 6.3
// asks for "at least 100").
const MaxReceived = 100

// forward is how one remote copy is sent: its envelope sender and the local alias that
// forwards it (zero for a recipient of the envelope itself, or a bounce to an SRS
// address).
type forward struct {
	from mail.Address
	via  mail.Address
}

// offsite is the forwarding of one alias's remote targets.
type offsite struct {
	fwd  forward
	loop bool // the message already passed this alias: not forwarded again
}

// offsiteFor decides how alias rcpt forwards msg off-site. The error is a fault.
func (p *Pipeline) offsiteFor(ctx context.Context, env *Envelope, rcpt mail.Address, msg *filter.Message) (*offsite, *Error) {
	if p.srs != nil && strings.HasPrefix(strings.ToLower(rcpt.Local), srsPrefix) {
		return &offsite{fwd: forward{from: env.From}}, nil // a bounce going back (srsTarget)
	}
	loop, err := seenDeliveredTo(msg, rcpt)
	if err != nil {
		return nil, Temporary(err)
	}
	if !loop {
		n, err := countField(msg, "Received")
		if err != nil {
			return nil, Temporary(err)
		}
		loop = n >= MaxReceived || env.hops >= MaxRedirectHops
	}
	if loop {
		return &offsite{loop: true}, nil
	}
	from, err := p.srsFrom(ctx, env.From, rcpt.Domain)
	if err != nil {
		return nil, Temporary(err)
	}
	return &offsite{fwd: forward{from: from, via: rcpt}}, nil
}

// offsiteLoop applies a detected loop to envelope recipient i after its targets were
// routed: refused when nothing else was routed for it, else only logged.
func (p *Pipeline) offsiteLoop(env *Envelope, pl *plan, i int, off *offsite) *Error {
	if off == nil || !off.loop {
		return nil
	}
	rcpt := env.Recipients[i].Addr
	p.log.Warn("mail forwarding loop, alias not forwarded off-site", "alias", rcpt.String(), "id", env.ID)
	for _, sp := range pl.shards {
		for _, c := range sp.targets {
			for _, k := range c.rcpts {
				if k == i {
					return nil // its local copies are stored
				}
			}
		}
	}
	return errLoop()
}

// remoteGroup is the remote copies that share one queue item.
type remoteGroup struct {
	fwd    forward
	copies []*remoteCopy
}

// remoteGroups groups the remote copies the chains left by sender and forwarding alias,
// in first-seen order.
func remoteGroups(pl *plan) []remoteGroup {
	var out []remoteGroup
	for k := range pl.remote {
		rc := &pl.remote[k]
		if rc.skip {
			continue
		}
		found := false
		for g := range out {
			if out[g].fwd.from.Key() == rc.fwd.from.Key() && out[g].fwd.via.Key() == rc.fwd.via.Key() {
				out[g].copies = append(out[g].copies, rc)
				found = true
				break
			}
		}
		if !found {
			out = append(out, remoteGroup{fwd: rc.fwd, copies: []*remoteCopy{rc}})
		}
	}
	return out
}

// deliveredTo is the Delivered-To field naming addr.
func deliveredTo(addr mail.Address) []byte {
	return []byte("Delivered-To: " + addr.String() + "\r\n")
}

// countField counts the header fields named name in msg.
func countField(msg *filter.Message, name string) (int, error) {
	vals, err := msg.Header(name)
	return len(vals), err
}
