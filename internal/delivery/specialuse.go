package delivery

import (
	"context"
	"strings"

	"mailgrid/internal/filter"
	"mailgrid/internal/store"
)

// A filing may name a mailbox by its special-use role (RFC 6154) instead of its name:
// `\Junk` is the account's Junk mailbox whatever the user renamed it to (the Bayes and
// DMARC mailets file spam so). resolveSpecialUse turns such filings into names before
// the store sees them: the account's mailbox with that role, else the role's default
// name (store.DefaultMailboxes; the store files into INBOX when that does not exist
// either, so mail is never lost). A store that cannot list the mailboxes gets the
// default name too, and the fault is logged.
func (p *Pipeline) resolveSpecialUse(ctx context.Context, st store.Store, sp *shardPlan) {
	for _, c := range sp.targets {
		if c.skip || !hasSpecialUse(c.filings) {
			continue
		}
		boxes, err := st.Mailboxes(ctx, p.accountRef(c.acct))
		if err != nil && ctx.Err() == nil {
			p.log.Warn("special-use filing: mailboxes unreadable, using the default name", "account", c.acct.Address.String(), "err", err)
		}
		out := c.filings[:0:0]
		seen := map[string]bool{}
		for _, f := range c.filings {
			if strings.HasPrefix(f.Mailbox, `\`) {
				f.Mailbox = mailboxFor(boxes, f.Mailbox)
			}
			key := f.Mailbox
			if key == "" || strings.EqualFold(key, store.Inbox) {
				key = store.Inbox
			}
			if !seen[key] { // RFC 5228 2.10.3: one copy per mailbox
				seen[key] = true
				out = append(out, f)
			}
		}
		c.filings = out
	}
}

func hasSpecialUse(fs []filter.Filing) bool {
	for _, f := range fs {
		if strings.HasPrefix(f.Mailbox, `\`) {
			return true
		}
	}
	return false
}

// mailboxFor returns the name of the mailbox with the role use, else its default name,
// else "" (INBOX).
func mailboxFor(boxes []store.Mailbox, use string) string {
	for _, b := range boxes {
		if strings.EqualFold(b.SpecialUse, use) {
			return b.Name
		}
	}
	for _, d := range store.DefaultMailboxes {
		if strings.EqualFold(d.SpecialUse, use) {
			return d.Name
		}
	}
	return ""
}
