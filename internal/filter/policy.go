package filter

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"mailgrid/internal/mail"
)

// Block lists and domain rules: the policy system and domain administrators set as data
// (drivers store it: internal/filter/sqlite), applied by the BlockList and DomainRules
// mailets (internal/filter/mailets). Domain "" is the system-wide list or rule set; any
// other value is one tenant's.

// BlockKind is what a block-list entry names.
type BlockKind uint8

// Block-list entry kinds.
const (
	BlockSender       BlockKind = iota + 1 // one envelope sender address (Key form)
	BlockSenderDomain                      // every sender of a domain and its subdomains
	BlockIP                                // a client address or CIDR prefix
)

var blockKindNames = [...]string{BlockSender: "sender", BlockSenderDomain: "sender-domain", BlockIP: "ip"}

func (k BlockKind) String() string {
	if int(k) < len(blockKindNames) && blockKindNames[k] != "" {
		return blockKindNames[k]
	}
	return "kind?"
}

// ParseBlockKind parses "sender", "sender-domain" or "ip".
func ParseBlockKind(s string) (BlockKind, error) {
	for i, n := range blockKindNames {
		if n != "" && n == s {
			return BlockKind(i), nil
		}
	}
	return 0, fmt.Errorf("%w: block kind %q (want sender, sender-domain or ip)", ErrInvalid, s)
}

// BlockEntry is one entry of a block list.
type BlockEntry struct {
	Domain  string // "" = the system list; else the tenant whose recipients it protects
	Kind    BlockKind
	Value   string // normalised by NormalizeBlock
	Note    string // why (shown to administrators, never to the sender)
	Created time.Time
}

// NormalizeBlock checks and normalises an entry's value: a sender address in Key form,
// a domain in lower-case ASCII (IDNA), an IP address or CIDR prefix in canonical form
// (a bare address becomes a /32 or /128 prefix). ErrInvalid for a value of the wrong
// shape.
func NormalizeBlock(kind BlockKind, value string) (string, error) {
	value = strings.TrimSpace(value)
	switch kind {
	case BlockSender:
		a, err := mail.Parse(value)
		if err != nil {
			return "", fmt.Errorf("%w: sender %q: %v", ErrInvalid, value, err)
		}
		return a.Key(), nil
	case BlockSenderDomain:
		d, err := mail.ParseDomain(strings.TrimPrefix(value, "@"))
		if err != nil {
			return "", fmt.Errorf("%w: domain %q: %v", ErrInvalid, value, err)
		}
		return d, nil
	case BlockIP:
		if !strings.Contains(value, "/") {
			a, err := netip.ParseAddr(value)
			if err != nil {
				return "", fmt.Errorf("%w: address %q: %v", ErrInvalid, value, err)
			}
			a = a.Unmap()
			return netip.PrefixFrom(a, a.BitLen()).String(), nil
		}
		p, err := netip.ParsePrefix(value)
		if err != nil {
			return "", fmt.Errorf("%w: prefix %q: %v", ErrInvalid, value, err)
		}
		return p.Masked().String(), nil
	}
	return "", fmt.Errorf("%w: block kind %d", ErrInvalid, kind)
}

// Matches reports whether the entry blocks a sender (zero: the null sender, matched by
// no sender entry) or a client address (invalid: none, matched by no IP entry).
func (e BlockEntry) Matches(sender mail.Address, ip netip.Addr) bool {
	switch e.Kind {
	case BlockSender:
		return !sender.IsZero() && sender.Key() == e.Value
	case BlockSenderDomain:
		d := sender.Domain
		return !sender.IsZero() && (d == e.Value || strings.HasSuffix(d, "."+e.Value))
	case BlockIP:
		p, err := netip.ParsePrefix(e.Value)
		return err == nil && ip.IsValid() && p.Contains(ip.Unmap())
	}
	return false
}

// BlockLists stores the system block list and each domain's.
type BlockLists interface {
	// AddBlock adds an entry (Value normalised by the caller with NormalizeBlock);
	// ErrExists when the list holds it already.
	AddBlock(ctx context.Context, e BlockEntry) error
	// RemoveBlock removes an entry; ErrNotFound when the list lacks it.
	RemoveBlock(ctx context.Context, domain string, kind BlockKind, value string) error
	// Blocks lists one domain's entries ("" = the system list), by kind then value.
	Blocks(ctx context.Context, domain string) ([]BlockEntry, error)
}

// RuleField is what a rule condition looks at.
type RuleField string

// Condition fields.
const (
	FieldFrom    RuleField = "from"    // the envelope sender, and the From: header addresses
	FieldTo      RuleField = "to"      // the envelope recipient, and To:/Cc: header addresses
	FieldSubject RuleField = "subject" // the Subject: header (RFC 2047 decoded)
	FieldSize    RuleField = "size"    // the message size in bytes
	FieldHeader  RuleField = "header"  // the header field named by Condition.Header
)

// RuleOp compares a field with a condition's value.
type RuleOp string

// Condition operators. Text comparisons ignore case.
const (
	OpContains RuleOp = "contains"
	OpIs       RuleOp = "is"
	OpMatches  RuleOp = "matches" // a glob: * any run, ? one character (RFC 5228 2.7.1 :matches)
	OpExists   RuleOp = "exists"  // header only: the field is present
	OpOver     RuleOp = "over"    // size only: more bytes than Value
	OpUnder    RuleOp = "under"   // size only: fewer bytes than Value
)

// Condition is one test of a DomainRule.
type Condition struct {
	Field  RuleField `json:"field"`
	Header string    `json:"header,omitempty"` // FieldHeader: the field name
	Op     RuleOp    `json:"op"`
	Value  string    `json:"value"`
	Not    bool      `json:"not,omitempty"` // negates the test
}

// RuleAction is what a matching DomainRule does.
type RuleAction string

// Rule actions.
const (
	ActionReject     RuleAction = "reject"     // 550 5.7.1 with Arg as text
	ActionQuarantine RuleAction = "quarantine" // held; Arg is the reason
	ActionFileInto   RuleAction = "fileinto"   // the keep goes to mailbox Arg
	ActionAddHeader  RuleAction = "addheader"  // Arg is "Name: value"
	ActionDrop       RuleAction = "drop"       // accepted and discarded
)

// DomainRule is one domain filter rule: when its conditions hold (all of them, or any
// with MatchAny), its action applies to the domain's recipients. Rules run in Position
// order; a final action (reject, quarantine, drop) ends the run for a recipient.
type DomainRule struct {
	ID         int64
	Domain     string // "" = system-wide, for every recipient domain
	Name       string
	Position   int
	Enabled    bool
	MatchAny   bool
	Conditions []Condition
	Action     RuleAction
	Arg        string
}

// Validate checks a rule's shape (not its domain): known fields, operators and action,
// a header name where needed, a number for size tests, an argument where the action
// takes one.
func (r DomainRule) Validate() error {
	if len(r.Conditions) == 0 {
		return fmt.Errorf("%w: a rule needs at least one condition", ErrInvalid)
	}
	for _, c := range r.Conditions {
		if err := c.validate(); err != nil {
			return err
		}
	}
	switch r.Action {
	case ActionReject, ActionQuarantine, ActionDrop:
	case ActionFileInto:
		if strings.TrimSpace(r.Arg) == "" {
			return fmt.Errorf("%w: fileinto needs a mailbox", ErrInvalid)
		}
	case ActionAddHeader:
		name, _, ok := strings.Cut(r.Arg, ":")
		if !ok || !validName(strings.TrimSpace(name)) {
			return fmt.Errorf("%w: addheader needs \"Name: value\"", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: action %q (want reject, quarantine, fileinto, addheader or drop)", ErrInvalid, r.Action)
	}
	return nil
}

func (c Condition) validate() error {
	switch c.Field {
	case FieldFrom, FieldTo, FieldSubject, FieldHeader:
		if c.Field == FieldHeader && !validName(c.Header) {
			return fmt.Errorf("%w: header condition needs a field name", ErrInvalid)
		}
		switch c.Op {
		case OpContains, OpIs, OpMatches:
		case OpExists:
			if c.Field != FieldHeader {
				return fmt.Errorf("%w: exists applies to header conditions", ErrInvalid)
			}
		default:
			return fmt.Errorf("%w: operator %q for %s", ErrInvalid, c.Op, c.Field)
		}
	case FieldSize:
		if c.Op != OpOver && c.Op != OpUnder {
			return fmt.Errorf("%w: size takes over or under", ErrInvalid)
		}
		if n, err := strconv.ParseInt(c.Value, 10, 64); err != nil || n < 0 {
			return fmt.Errorf("%w: size %q is no byte count", ErrInvalid, c.Value)
		}
	default:
		return fmt.Errorf("%w: field %q (want from, to, subject, size or header)", ErrInvalid, c.Field)
	}
	return nil
}

// DomainRules stores the system's and each domain's filter rules.
type DomainRules interface {
	// PutDomainRule creates (ID 0) or replaces a rule of its domain and returns it with
	// its ID; ErrNotFound for an ID the domain does not have. The caller validates.
	PutDomainRule(ctx context.Context, r DomainRule) (DomainRule, error)
	// DeleteDomainRule removes a rule; ErrNotFound for an ID of another domain.
	DeleteDomainRule(ctx context.Context, domain string, id int64) error
	// DomainRules lists one domain's rules ("" = the system's) by Position, then ID.
	DomainRules(ctx context.Context, domain string) ([]DomainRule, error)
}
