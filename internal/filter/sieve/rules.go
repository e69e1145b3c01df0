package sieve

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"mailgrid/internal/mail"
)

// Settings are the simple filter settings the webmail offers, stored as structured data
// and compiled by Generate into one script, so one engine runs everything. The script
// runs its parts in this order:
//
//  1. Block: mail from a blocked sender (header From or envelope sender) is discarded,
//     unless the sender is on Allow; nothing else runs for it.
//  2. Forward: every message is redirected; without KeepCopy nothing else runs.
//  3. Rules, in order; a rule that discards or rejects also stops. Reject excludes
//     filing and forwarding (RFC 5429 2.1): Generate refuses a reject rule while all
//     mail is forwarded, and at run time a reject after an earlier rule filed the
//     same message fails safe (the message is kept, RFC 5228 2.10.6).
//  4. Vacation, if enabled and today is within its dates.
type Settings struct {
	Block    []string // "user@example.com" or a domain ("example.com", "@example.com"; subdomains too)
	Allow    []string // same forms; these senders bypass Block
	Forward  *Forward
	Rules    []Rule
	Vacation *Vacation
}

// Forward is the auto-forward setting.
type Forward struct {
	To       []string // at most DefaultLimits().MaxRedirects addresses
	KeepCopy bool     // also keep the message here (redirect :copy, RFC 3894)
}

// Rule is one filter rule: if the conditions hold (all, or any with Any), run the
// actions. A rule without conditions always applies.
type Rule struct {
	Name       string // shown in the script as a comment
	Disabled   bool
	Any        bool
	Conditions []Condition
	Actions    []RuleAction
}

// Field is what a condition looks at.
type Field string

const (
	FieldFrom    Field = "from"    // the From header (display name and address)
	FieldTo      Field = "to"      // the To and Cc headers
	FieldSubject Field = "subject" // the Subject header
	FieldHeader  Field = "header"  // the header named by Condition.Header
	FieldSize    Field = "size"    // the message size
)

// Op is how a condition compares.
type Op string

const (
	OpContains Op = "contains" // text: case-insensitive substring
	OpIs       Op = "is"       // text: case-insensitive equality
	OpMatches  Op = "matches"  // text: wildcard pattern, "*" and "?"
	OpOver     Op = "over"     // size: larger than Size octets
	OpUnder    Op = "under"    // size: smaller than Size octets
)

// Condition is one test of a rule.
type Condition struct {
	Field  Field
	Header string // FieldHeader only
	Op     Op
	Not    bool // negate the test
	Value  string
	Size   int64 // FieldSize only, in octets
}

// ActionType is what a rule does.
type ActionType string

const (
	ActFileInto ActionType = "fileinto" // file into Mailbox
	ActFlag     ActionType = "flag"     // set Flag (\Seen, \Flagged, or a keyword)
	ActForward  ActionType = "forward"  // redirect to Address; KeepCopy keeps it here too
	ActDiscard  ActionType = "discard"  // drop silently, then stop
	ActReject   ActionType = "reject"   // refuse with Reason, then stop
	ActStop     ActionType = "stop"     // run no further rules
)

// RuleAction is one action of a rule.
type RuleAction struct {
	Type     ActionType
	Mailbox  string
	Flag     string
	Address  string
	KeepCopy bool
	Reason   string
}

// Vacation is the auto-reply setting (RFC 5230).
type Vacation struct {
	Subject   string   // "" for "Auto: " and the original subject
	Body      string   // the reply text
	Days      int      // reply once per sender per this many days; 0 for the default 7
	From      string   // reply From; "" for the recipient address
	Addresses []string // further addresses of the user (RFC 5230 4.5)
	// Start and End bound the dates (inclusive, compared as dates in the zone of
	// RunOptions.Now) on which replies are sent; zero means open.
	Start, End time.Time
}

// SettingsError names the setting Generate refused, e.g. Path "rules[2].actions[0]".
type SettingsError struct {
	Path string
	Msg  string
}

func (e *SettingsError) Error() string { return "sieve settings: " + e.Path + ": " + e.Msg }

// generator accumulates the script text and the extensions it needs.
type generator struct {
	b    strings.Builder
	reqs []string
}

func (g *generator) need(ext ...string) {
	for _, e := range ext {
		if !slices.Contains(g.reqs, e) {
			g.reqs = append(g.reqs, e)
		}
	}
}

// Generate compiles settings to a Sieve script that Compile accepts.
func Generate(s Settings) (string, error) {
	g := &generator{}
	if err := g.blockList(s.Block, s.Allow); err != nil {
		return "", err
	}
	if err := g.forward(s.Forward); err != nil {
		return "", err
	}
	for i, r := range s.Rules {
		if err := g.rule(fmt.Sprintf("rules[%d]", i), r); err != nil {
			return "", err
		}
		if s.Forward != nil && len(s.Forward.To) > 0 && rejects(r) {
			// RFC 5429 2.1: reject excludes redirect, and the forward runs first.
			return "", &SettingsError{fmt.Sprintf("rules[%d].actions", i), "reject cannot be used while all mail is forwarded"}
		}
	}
	if err := g.vacation(s.Vacation); err != nil {
		return "", err
	}
	var out strings.Builder
	out.WriteString("# Generated by mailgrid from the filter settings; edits are replaced when they are saved.\n")
	if len(g.reqs) > 0 {
		slices.Sort(g.reqs)
		out.WriteString("require " + quoteList(g.reqs) + ";\n")
	}
	out.WriteString(g.b.String())
	return out.String(), nil
}

// quote writes s as a Sieve quoted-string (RFC 5228 2.4.2).
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// comment writes text as a hash comment, one line.
func comment(s string) string {
	return "# " + strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s) + "\n"
}

// senders splits block/allow entries into addresses and domains.
func senders(path string, list []string) (addrs, domains []string, err error) {
	for i, e := range list {
		e = strings.TrimSpace(e)
		if d, ok := strings.CutPrefix(e, "@"); ok || !strings.Contains(e, "@") {
			dom, derr := mail.ParseDomain(d)
			if derr != nil {
				return nil, nil, &SettingsError{fmt.Sprintf("%s[%d]", path, i), "not an address or domain: " + quoteForMsg(e)}
			}
			domains = append(domains, dom)
			continue
		}
		a, aerr := mail.Parse(e)
		if aerr != nil {
			return nil, nil, &SettingsError{fmt.Sprintf("%s[%d]", path, i), "not an address or domain: " + quoteForMsg(e)}
		}
		addrs = append(addrs, a.String())
	}
	return addrs, domains, nil
}

// senderTest is a test true when the header From or the envelope sender is one of the
// addresses or in one of the domains (or their subdomains).
func (g *generator) senderTest(addrs, domains []string) string {
	var tests []string
	g.need("envelope")
	for _, part := range []string{`address :all :is "from" `, `envelope :all :is "from" `} {
		if len(addrs) > 0 {
			tests = append(tests, part+quoteList(addrs))
		}
	}
	if len(domains) > 0 {
		subs := make([]string, len(domains))
		for i, d := range domains {
			subs[i] = "*." + d
		}
		tests = append(tests,
			`address :domain :is "from" `+quoteList(domains),
			`address :domain :matches "from" `+quoteList(subs),
			`envelope :domain :is "from" `+quoteList(domains),
			`envelope :domain :matches "from" `+quoteList(subs))
	}
	return "anyof (" + strings.Join(tests, ",\n        ") + ")"
}

func (g *generator) blockList(block, allow []string) error {
	bAddrs, bDoms, err := senders("block", block)
	if err != nil || len(bAddrs)+len(bDoms) == 0 {
		return err
	}
	aAddrs, aDoms, err := senders("allow", allow)
	if err != nil {
		return err
	}
	g.b.WriteString("\n# Block list\n")
	cond := g.senderTest(bAddrs, bDoms)
	if len(aAddrs)+len(aDoms) > 0 {
		cond = "allof (" + cond + ",\n    not " + g.senderTest(aAddrs, aDoms) + ")"
	}
	g.b.WriteString("if " + cond + " {\n    discard;\n    stop;\n}\n")
	return nil
}

func (g *generator) forward(f *Forward) error {
	if f == nil || len(f.To) == 0 {
		return nil
	}
	if len(f.To) > DefaultLimits().MaxRedirects {
		return &SettingsError{"forward.to", fmt.Sprintf("at most %d addresses", DefaultLimits().MaxRedirects)}
	}
	g.b.WriteString("\n# Forward\n")
	for i, to := range f.To {
		addr, msg := redirectAddress(to)
		if msg != "" {
			return &SettingsError{fmt.Sprintf("forward.to[%d]", i), msg}
		}
		if f.KeepCopy {
			g.need("copy")
			g.b.WriteString("redirect :copy " + quote(addr) + ";\n")
		} else {
			g.b.WriteString("redirect " + quote(addr) + ";\n")
		}
	}
	if !f.KeepCopy {
		g.b.WriteString("stop;\n")
	}
	return nil
}

func rejects(r Rule) bool {
	return !r.Disabled && slices.ContainsFunc(r.Actions, func(a RuleAction) bool { return a.Type == ActReject })
}

func (g *generator) rule(path string, r Rule) error {
	if r.Disabled {
		return nil
	}
	if len(r.Actions) == 0 {
		return &SettingsError{path + ".actions", "a rule needs at least one action"}
	}
	var conds []string
	for i, c := range r.Conditions {
		t, err := g.condition(fmt.Sprintf("%s.conditions[%d]", path, i), c)
		if err != nil {
			return err
		}
		conds = append(conds, t)
	}
	body, err := g.actions(path, r.Actions)
	if err != nil {
		return err
	}
	g.b.WriteString("\n")
	if r.Name != "" {
		g.b.WriteString(comment("Rule: " + r.Name))
	}
	switch {
	case len(conds) == 0:
		g.b.WriteString("if true {\n")
	case len(conds) == 1:
		g.b.WriteString("if " + conds[0] + " {\n")
	case r.Any:
		g.b.WriteString("if anyof (" + strings.Join(conds, ",\n          ") + ") {\n")
	default:
		g.b.WriteString("if allof (" + strings.Join(conds, ",\n          ") + ") {\n")
	}
	g.b.WriteString(body + "}\n")
	return nil
}

func (g *generator) condition(path string, c Condition) (string, error) {
	var t string
	switch c.Field {
	case FieldSize:
		if c.Op != OpOver && c.Op != OpUnder || c.Size < 0 {
			return "", &SettingsError{path, "size takes over or under and a size"}
		}
		t = fmt.Sprintf("size :%s %d", c.Op, c.Size)
	case FieldFrom, FieldTo, FieldSubject, FieldHeader:
		if c.Op != OpContains && c.Op != OpIs && c.Op != OpMatches {
			return "", &SettingsError{path, "text takes contains, is or matches"}
		}
		if c.Value == "" {
			return "", &SettingsError{path + ".value", "empty value"}
		}
		names := map[Field]string{FieldFrom: `"from"`, FieldTo: `["to", "cc"]`, FieldSubject: `"subject"`}[c.Field]
		if c.Field == FieldHeader {
			if !validFieldName(c.Header) {
				return "", &SettingsError{path + ".header", "invalid header name " + quoteForMsg(c.Header)}
			}
			names = quote(c.Header)
		}
		// The user's text is a literal for contains and is; only matches gives "*" and
		// "?" their meaning. No variables are required, so "${" stays literal too.
		t = fmt.Sprintf("header :%s %s %s", c.Op, names, quote(c.Value))
	default:
		return "", &SettingsError{path + ".field", "unknown field " + quoteForMsg(string(c.Field))}
	}
	if c.Not {
		t = "not " + t
	}
	return t, nil
}

// actions renders a rule's actions: flags first, so that a fileinto in the same rule
// carries them (RFC 5232 5), then the rest in order; discard and reject end in stop
// so that nothing later (vacation, RFC 5429) conflicts with them.
func (g *generator) actions(path string, acts []RuleAction) (string, error) {
	var flags, rest strings.Builder
	rejects, stores := false, false
	for i, a := range acts {
		p := fmt.Sprintf("%s.actions[%d]", path, i)
		switch a.Type {
		case ActFlag:
			f := canonicalFlag(a.Flag)
			if f == "" {
				return "", &SettingsError{p + ".flag", "invalid flag " + quoteForMsg(a.Flag)}
			}
			g.need("imap4flags")
			flags.WriteString("    addflag " + quote(f) + ";\n")
		case ActFileInto:
			if msg := checkMailbox(a.Mailbox); msg != "" {
				return "", &SettingsError{p + ".mailbox", msg}
			}
			g.need("fileinto")
			stores = true
			rest.WriteString("    fileinto " + quote(a.Mailbox) + ";\n")
		case ActForward:
			addr, msg := redirectAddress(a.Address)
			if msg != "" {
				return "", &SettingsError{p + ".address", msg}
			}
			stores = true
			if a.KeepCopy {
				g.need("copy")
				rest.WriteString("    redirect :copy " + quote(addr) + ";\n")
			} else {
				rest.WriteString("    redirect " + quote(addr) + ";\n")
			}
		case ActDiscard:
			rest.WriteString("    discard;\n    stop;\n")
		case ActReject:
			g.need("reject")
			rejects = true
			rest.WriteString("    reject " + quote(a.Reason) + ";\n    stop;\n")
		case ActStop:
			rest.WriteString("    stop;\n")
		default:
			return "", &SettingsError{p + ".type", "unknown action " + quoteForMsg(string(a.Type))}
		}
	}
	if rejects && (stores || flags.Len() > 0) {
		// RFC 5429 2.1: reject excludes keep, fileinto and redirect.
		return "", &SettingsError{path + ".actions", "reject cannot be combined with filing, flagging or forwarding"}
	}
	return flags.String() + rest.String(), nil
}

func (g *generator) vacation(v *Vacation) error {
	if v == nil {
		return nil
	}
	if strings.TrimSpace(v.Body) == "" {
		return &SettingsError{"vacation.body", "empty reply text"}
	}
	if v.Days < 0 {
		return &SettingsError{"vacation.days", "negative"}
	}
	if v.From != "" && !validFrom(v.From) {
		return &SettingsError{"vacation.from", "not an address: " + quoteForMsg(v.From)}
	}
	if !v.Start.IsZero() && !v.End.IsZero() && v.End.Before(v.Start) {
		return &SettingsError{"vacation.end", "before the start"}
	}
	g.need("vacation")
	cmd := "vacation"
	if v.Days > 0 {
		cmd += fmt.Sprintf(" :days %d", v.Days)
	}
	if v.Subject != "" {
		cmd += " :subject " + quote(v.Subject)
	}
	if v.From != "" {
		cmd += " :from " + quote(v.From)
	}
	if len(v.Addresses) > 0 {
		addrs, doms, err := senders("vacation.addresses", v.Addresses)
		if err != nil {
			return err
		}
		if len(doms) > 0 {
			return &SettingsError{"vacation.addresses", "a domain is not an address: " + quoteForMsg(doms[0])}
		}
		cmd += " :addresses " + quoteList(addrs)
	}
	cmd += "\n    " + quote(v.Body) + ";\n"
	var dates []string
	if !v.Start.IsZero() {
		dates = append(dates, `currentdate :value "ge" "date" `+quote(v.Start.Format("2006-01-02")))
	}
	if !v.End.IsZero() {
		dates = append(dates, `currentdate :value "le" "date" `+quote(v.End.Format("2006-01-02")))
	}
	g.b.WriteString("\n# Auto-reply\n")
	if len(dates) == 0 {
		g.b.WriteString(cmd)
		return nil
	}
	g.need("date", "relational")
	g.b.WriteString("if allof (" + strings.Join(dates, ", ") + ") {\n    " + cmd + "}\n")
	return nil
}
