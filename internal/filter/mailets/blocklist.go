package mailets

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
)

// BlockList refuses mail from blocked senders and client addresses during the SMTP
// session (filter.BlockLists: the system list and each domain's):
//
//	connect  the system list's IP entries: the reply to EHLO is 554 5.7.1
//	mail     the system list (sender, sender domain, IP): the reply to MAIL is 550 5.7.1
//	rcpt     the recipient domain's list: the reply to that RCPT is 550 5.7.1
//
// Sender entries do not apply to authenticated submitters (their sender is checked
// against their account), nor to the null sender; internal mail is never blocked. A
// list that cannot be read is a failure: the rule's Policy applies (fail-closed: 451).
type BlockList struct {
	Lists filter.BlockLists
	// CacheFor keeps each list read for this long (a list of thousands of entries
	// costs milliseconds to read per command); 0 reads the list at every command.
	// Changes then apply within CacheFor.
	CacheFor time.Duration
	Now      func() time.Time

	mu    sync.Mutex
	cache map[string]cachedList
}

type cachedList struct {
	entries []compiledBlock
	at      time.Time
}

// compiledBlock is an entry with its IP prefix parsed once.
type compiledBlock struct {
	filter.BlockEntry
	prefix netip.Prefix
}

func (c compiledBlock) matches(sender mail.Address, ip netip.Addr) bool {
	if c.Kind == filter.BlockIP {
		return c.prefix.IsValid() && ip.IsValid() && c.prefix.Contains(ip.Unmap())
	}
	return c.BlockEntry.Matches(sender, ip)
}

func compile(entries []filter.BlockEntry) []compiledBlock {
	out := make([]compiledBlock, len(entries))
	for i, e := range entries {
		out[i].BlockEntry = e
		if e.Kind == filter.BlockIP {
			out[i].prefix, _ = netip.ParsePrefix(e.Value) // invalid: matches nothing
		}
	}
	return out
}

// list returns a domain's entries, from the cache when fresh.
func (b *BlockList) list(ctx context.Context, domain string) ([]compiledBlock, error) {
	if b.CacheFor <= 0 {
		entries, err := b.Lists.Blocks(ctx, domain)
		return compile(entries), err
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	t := now()
	b.mu.Lock()
	c, ok := b.cache[domain]
	b.mu.Unlock()
	if ok && t.Sub(c.at) < b.CacheFor {
		return c.entries, nil
	}
	raw, err := b.Lists.Blocks(ctx, domain)
	if err != nil {
		return nil, err
	}
	entries := compile(raw)
	b.mu.Lock()
	if b.cache == nil || len(b.cache) > 10000 {
		b.cache = map[string]cachedList{} // bounded: many domains start over
	}
	b.cache[domain] = cachedList{entries: entries, at: t}
	b.mu.Unlock()
	return entries, nil
}

// Name implements filter.Mailet.
func (b *BlockList) Name() string { return "blocklist" }

// Stages implements filter.Stager.
func (b *BlockList) Stages() []filter.Stage {
	return []filter.Stage{filter.StageConnect, filter.StageMail, filter.StageRcpt}
}

// Service implements filter.Mailet.
func (b *BlockList) Service(ctx context.Context, m *filter.Mail) error {
	env := m.Envelope
	if env.Internal {
		return nil
	}
	sender := env.From
	if env.Account != nil {
		sender = mail.Address{}
	}
	for _, r := range active(m) {
		domain := "" // connect and MAIL: the system list
		if m.Stage == filter.StageRcpt {
			domain = r.Addr.Domain
		}
		entries, err := b.list(ctx, domain)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if m.Stage == filter.StageConnect && e.Kind != filter.BlockIP {
				continue
			}
			if !e.matches(sender, env.ClientIP) {
				continue
			}
			text := "Sender address blocked by policy"
			if e.Kind == filter.BlockIP {
				text = "Client address blocked by policy"
			}
			code := 550
			if m.Stage == filter.StageConnect {
				code = 554 // RFC 5321 4.3.2: a refused session
			}
			m.Logger.Info("blocked", "stage", m.Stage.String(), "list", listName(domain), "kind", e.Kind.String(),
				"entry", e.Value, "sender", env.From.String(), "ip", env.ClientIP.String())
			r.Reject(filter.Reply{Code: code, Enhanced: [3]int{5, 7, 1}, Text: text})
			break
		}
	}
	return nil
}

func listName(domain string) string {
	if domain == "" {
		return "system"
	}
	return domain
}
