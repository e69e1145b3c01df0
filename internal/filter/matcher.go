package filter

import (
	"context"
	"slices"
	"strings"
)

// Matcher decides which recipients of a Mail a mailet applies to. Match is called once
// per recipient that is not final yet; an error is the rule's failure (its Policy
// applies to that recipient).
type Matcher interface {
	Match(ctx context.Context, m *Mail, r *Recipient) (bool, error)
}

// MatcherFunc adapts a function to Matcher.
type MatcherFunc func(ctx context.Context, m *Mail, r *Recipient) (bool, error)

// Match implements Matcher.
func (f MatcherFunc) Match(ctx context.Context, m *Mail, r *Recipient) (bool, error) {
	return f(ctx, m, r)
}

// All matches every recipient (a nil Rule.Matcher means All).
func All() Matcher {
	return MatcherFunc(func(context.Context, *Mail, *Recipient) (bool, error) { return true, nil })
}

// RecipientDomain matches recipients in one of the domains (ASCII, any case).
func RecipientDomain(domains ...string) Matcher {
	ds := lowerAll(domains)
	return MatcherFunc(func(_ context.Context, _ *Mail, r *Recipient) (bool, error) {
		return slices.Contains(ds, r.Addr.Domain), nil
	})
}

// RecipientIs matches recipients whose address (Key form) is one of addrs.
func RecipientIs(addrs ...string) Matcher {
	keys := lowerAll(addrs)
	return MatcherFunc(func(_ context.Context, _ *Mail, r *Recipient) (bool, error) {
		return slices.Contains(keys, r.Addr.Key()) || slices.Contains(keys, r.Orig.Key()), nil
	})
}

// SenderDomain matches every recipient when the envelope sender is in one of the
// domains.
func SenderDomain(domains ...string) Matcher {
	ds := lowerAll(domains)
	return MatcherFunc(func(_ context.Context, m *Mail, _ *Recipient) (bool, error) {
		return slices.Contains(ds, m.Envelope.From.Domain), nil
	})
}

// SenderAuthenticated matches every recipient of mail from an authenticated submitter.
func SenderAuthenticated() Matcher {
	return MatcherFunc(func(_ context.Context, m *Mail, _ *Recipient) (bool, error) {
		return m.Envelope.Account != nil, nil
	})
}

// Not inverts a matcher.
func Not(x Matcher) Matcher {
	return MatcherFunc(func(ctx context.Context, m *Mail, r *Recipient) (bool, error) {
		ok, err := x.Match(ctx, m, r)
		return !ok && err == nil, err
	})
}

// And matches when every matcher matches (evaluated in order, stopping at the first
// miss).
func And(ms ...Matcher) Matcher {
	return MatcherFunc(func(ctx context.Context, m *Mail, r *Recipient) (bool, error) {
		for _, x := range ms {
			if ok, err := x.Match(ctx, m, r); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

func lowerAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}
