package postgres

// Input normalisation and the rules that need no database. They are engine-independent:
// the SQLite driver applies the same rules (see the report to the lead: they belong in
// package directory, shared by both drivers).

import (
	"fmt"
	"slices"
	"strings"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// MaxAliasTargets bounds the targets of one alias (a mailing list belongs elsewhere).
const MaxAliasTargets = 1000

// normAddress re-parses an address given to a mutation, so a hand-built mail.Address gets
// the same checks (relay tricks, lengths, IDNA) as one from mail.Parse.
func normAddress(a mail.Address) (mail.Address, error) {
	if a.IsZero() {
		return a, fmt.Errorf("%w: empty address", directory.ErrInvalid)
	}
	p, err := mail.Parse(a.String())
	if err != nil {
		return a, fmt.Errorf("%w: address %q: %v", directory.ErrInvalid, a.String(), err)
	}
	return p, nil
}

// lookupKey is the key form of an address given to a lookup; ok is false when the
// address cannot exist in any directory.
func lookupKey(a mail.Address) (key string, ok bool) {
	dom, err := mail.ParseDomain(a.Domain)
	if err != nil || a.Local == "" {
		return "", false
	}
	return mail.FoldLocal(a.Local) + "@" + dom, true
}

func notFound(what string) error { return fmt.Errorf("%w: %s", directory.ErrNotFound, what) }

// normDomain validates a domain name given to a mutation: Unicode and punycode spellings
// of one IDNA domain give the same ASCII name.
func normDomain(name string) (string, error) {
	a, err := mail.ParseDomain(name)
	if err != nil {
		return "", fmt.Errorf("%w: domain %q: %v", directory.ErrInvalid, name, err)
	}
	return a, nil
}

// lookupDomain normalises a domain name given to a lookup: a name that cannot be a domain
// is not found.
func lookupDomain(name string) (string, error) {
	a, err := mail.ParseDomain(name)
	if err != nil {
		return "", fmt.Errorf("%w: domain %q", directory.ErrNotFound, name)
	}
	return a, nil
}

// checkDomainLimits validates a domain's limits and returns its normalised service
// switches, never nil (the column is NOT NULL).
func checkDomainLimits(d directory.Domain) ([]string, error) {
	if d.MaxMessageBytes < 0 || d.MaxQuotaBytes < 0 || d.MaxUsers < 0 || d.MaxAttachmentBytes < 0 {
		return nil, fmt.Errorf("%w: negative domain limit", directory.ErrInvalid)
	}
	return normServices(d.DisabledServices)
}

// normServices is directory.NormServices with a non-nil result for the text[] column.
func normServices(names []string) ([]string, error) {
	s, err := directory.NormServices(names)
	if s == nil && err == nil {
		s = []string{}
	}
	return s, err
}

// nilIfEmpty turns a scanned empty array into nil, the form the directory returns.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// effectiveQuota applies a domain's MaxQuotaBytes to a requested quota: 0 means the
// domain's maximum (itself possibly 0, unlimited); above the maximum is ErrLimit.
func effectiveQuota(dom directory.Domain, quota int64) (int64, error) {
	switch {
	case quota == 0:
		return dom.MaxQuotaBytes, nil
	case dom.MaxQuotaBytes > 0 && quota > dom.MaxQuotaBytes:
		return 0, fmt.Errorf("%w: quota %d exceeds %q's maximum %d", directory.ErrLimit, quota, dom.Name, dom.MaxQuotaBytes)
	}
	return quota, nil
}

// normRole validates a role and its admin domains. A domain admin given no domains
// administers its own; other roles take none (ErrInvalid: a list is never ignored).
// The result is sorted ASCII without duplicates.
func normRole(role directory.Role, admin []string, own string) (directory.Role, []string, error) {
	if role == "" {
		role = directory.RoleUser
	}
	switch {
	case !role.Valid():
		return "", nil, fmt.Errorf("%w: role %q", directory.ErrInvalid, role)
	case role != directory.RoleDomainAdmin && len(admin) > 0:
		return "", nil, fmt.Errorf("%w: admin domains for role %q", directory.ErrInvalid, role)
	case role != directory.RoleDomainAdmin:
		return role, nil, nil
	case len(admin) == 0:
		return role, []string{own}, nil
	}
	out := make([]string, len(admin))
	for i, s := range admin {
		a, err := normDomain(s)
		if err != nil {
			return "", nil, err
		}
		out[i] = a
	}
	slices.Sort(out)
	return role, slices.Compact(out), nil
}

// checkUpdate validates the fields of an AccountUpdate that need no database and returns
// its normalised DisabledServices (nil when u leaves them alone).
func checkUpdate(u directory.AccountUpdate) ([]string, error) {
	if u.QuotaBytes != nil && *u.QuotaBytes < 0 || u.QuotaMessages != nil && *u.QuotaMessages < 0 {
		return nil, fmt.Errorf("%w: negative quota", directory.ErrInvalid)
	}
	if u.Shard != nil && *u.Shard == "" {
		return nil, fmt.Errorf("%w: empty shard", directory.ErrInvalid)
	}
	if u.DisabledServices == nil {
		return nil, nil
	}
	return normServices(*u.DisabledServices)
}

// aliasSource normalises an alias source: "local@domain" to its key form, "@domain" (a
// catch-all) to "@" and the ASCII domain. It returns the source and its domain.
func aliasSource(src string) (source, domain string, err error) {
	if rest, ok := strings.CutPrefix(src, "@"); ok {
		dom, err := normDomain(rest)
		if err != nil {
			return "", "", err
		}
		return "@" + dom, dom, nil
	}
	a, err := mail.Parse(src)
	if err != nil {
		return "", "", fmt.Errorf("%w: alias source %q: %v", directory.ErrInvalid, src, err)
	}
	return a.Key(), a.Domain, nil
}

// aliasTargets parses an alias's targets and drops duplicates (by key, first kept).
func aliasTargets(source string, targets []string) ([]mail.Address, error) {
	if len(targets) == 0 || len(targets) > MaxAliasTargets {
		return nil, fmt.Errorf("%w: an alias needs 1 to %d targets", directory.ErrInvalid, MaxAliasTargets)
	}
	seen := make(map[string]bool, len(targets))
	out := make([]mail.Address, 0, len(targets))
	for _, t := range targets {
		a, err := mail.Parse(t)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: alias target %q: %v", directory.ErrInvalid, t, err)
		case a.Key() == source:
			return nil, fmt.Errorf("%w: alias %q targets itself", directory.ErrInvalid, source)
		case seen[a.Key()]:
			continue
		}
		seen[a.Key()] = true
		out = append(out, a)
	}
	return out, nil
}
