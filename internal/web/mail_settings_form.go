package web

import (
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"mailgrid/internal/filter/sieve"
)

// The Settings page's forms: parsing them into sieve.Settings (mail_settings.go).

const dateLayout = "2006-01-02"

// Bounds of the forms (a script is stored whole on every save).
const (
	maxRuleConds   = 3
	maxRuleActs    = 2
	maxRules       = 200
	maxListEntries = 500
	maxVacationLen = 20000
)

// sieveRuleForm is the rule editor's fields.
type sieveRuleForm struct {
	Name  string
	Any   bool
	Conds []sieveCondForm
	Acts  []sieveActForm
}

type sieveCondForm struct {
	Field, Header, Op, Value string
	Not                      bool
}

type sieveActForm struct {
	Type, Mailbox, Value string
	Keep                 bool
}

// sieveRuleRow is one line of the rule list.
type sieveRuleRow struct {
	Index         int
	Last          bool
	Name, Summary string
}

func blankRuleForm() sieveRuleForm {
	return sieveRuleForm{Conds: make([]sieveCondForm, maxRuleConds), Acts: make([]sieveActForm, maxRuleActs)}
}

// ruleFormOf fills the editor from a stored rule.
func ruleFormOf(r sieve.Rule) sieveRuleForm {
	f := blankRuleForm()
	f.Name, f.Any = r.Name, r.Any
	for i, c := range r.Conditions {
		if i >= maxRuleConds {
			break
		}
		v := c.Value
		if c.Field == sieve.FieldSize {
			v = strconv.FormatInt(c.Size, 10)
		}
		f.Conds[i] = sieveCondForm{Field: string(c.Field), Header: c.Header, Op: string(c.Op), Value: v, Not: c.Not}
	}
	for i, a := range r.Actions {
		if i >= maxRuleActs {
			break
		}
		af := sieveActForm{Type: string(a.Type), Mailbox: a.Mailbox, Keep: a.KeepCopy}
		switch a.Type {
		case sieve.ActFlag:
			af.Value = a.Flag
		case sieve.ActForward:
			af.Value = a.Address
		case sieve.ActReject:
			af.Value = a.Reason
		}
		f.Acts[i] = af
	}
	return f
}

// ruleFormFrom reads the editor's fields from a posted form.
func ruleFormFrom(r *http.Request) sieveRuleForm {
	f := blankRuleForm()
	f.Name, f.Any = strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("match") == "any"
	for i := range f.Conds {
		p := fmt.Sprintf("c%d_", i)
		f.Conds[i] = sieveCondForm{Field: r.PostFormValue(p + "field"), Header: strings.TrimSpace(r.PostFormValue(p + "header")),
			Op: r.PostFormValue(p + "op"), Value: r.PostFormValue(p + "value"), Not: r.PostFormValue(p+"not") != ""}
	}
	for i := range f.Acts {
		p := fmt.Sprintf("a%d_", i)
		f.Acts[i] = sieveActForm{Type: r.PostFormValue(p + "type"), Mailbox: r.PostFormValue(p + "mailbox"),
			Value: strings.TrimSpace(r.PostFormValue(p + "value")), Keep: r.PostFormValue(p+"keep") != ""}
	}
	return f
}

// rule turns the editor's fields into a rule, or refuses them.
func (f sieveRuleForm) rule() (sieve.Rule, error) {
	r := sieve.Rule{Name: f.Name, Any: f.Any}
	if err := singleLine("The rule name", f.Name, 200); err != nil {
		return r, err
	}
	for i, c := range f.Conds {
		if c.Field == "" {
			continue
		}
		n := i + 1
		cond := sieve.Condition{Field: sieve.Field(c.Field), Op: sieve.Op(c.Op), Not: c.Not}
		switch cond.Field {
		case sieve.FieldSize:
			if cond.Op != sieve.OpOver && cond.Op != sieve.OpUnder {
				return r, bad("Condition %d: a size is compared with \"over\" or \"under\".", n)
			}
			size, err := parseRuleSize(c.Value)
			if err != nil {
				return r, bad("Condition %d: %v.", n, err)
			}
			cond.Size = size
		case sieve.FieldFrom, sieve.FieldTo, sieve.FieldSubject, sieve.FieldHeader:
			if cond.Op != sieve.OpContains && cond.Op != sieve.OpIs && cond.Op != sieve.OpMatches {
				return r, bad("Condition %d: text is compared with \"contains\", \"is\" or \"matches\".", n)
			}
			if err := singleLine(fmt.Sprintf("Condition %d", n), c.Value, 1000); err != nil {
				return r, err
			}
			if c.Value == "" {
				return r, bad("Condition %d: enter the text to look for.", n)
			}
			cond.Value = c.Value
			if cond.Field == sieve.FieldHeader {
				// RFC 5322 2.2: a field name is printable ASCII without the colon.
				if c.Header == "" || strings.IndexFunc(c.Header, func(r rune) bool { return r <= ' ' || r > '~' || r == ':' }) >= 0 {
					return r, bad("Condition %d: enter a header name (letters, digits and dashes).", n)
				}
				cond.Header = c.Header
			}
		default:
			return r, bad("Condition %d: unknown field.", n)
		}
		r.Conditions = append(r.Conditions, cond)
	}
	for i, a := range f.Acts {
		if a.Type == "" {
			continue
		}
		n := i + 1
		act := sieve.RuleAction{Type: sieve.ActionType(a.Type), KeepCopy: a.Keep}
		switch act.Type {
		case sieve.ActFileInto:
			if a.Mailbox == "" {
				return r, bad("Action %d: choose a folder.", n)
			}
			act.Mailbox = a.Mailbox
		case sieve.ActFlag:
			act.Flag = a.Value
			if act.Flag == "" {
				act.Flag = `\Flagged`
			}
		case sieve.ActForward:
			act.Address = a.Value
		case sieve.ActReject:
			if err := singleLine(fmt.Sprintf("Action %d", n), a.Value, 1000); err != nil {
				return r, err
			}
			act.Reason = a.Value
		case sieve.ActDiscard, sieve.ActStop:
		default:
			return r, bad("Action %d: unknown action.", n)
		}
		for _, v := range []string{act.Flag, act.Address} {
			if err := singleLine(fmt.Sprintf("Action %d", n), v, 1000); err != nil {
				return r, err
			}
		}
		r.Actions = append(r.Actions, act)
	}
	if len(r.Actions) == 0 {
		return r, bad("A rule needs at least one action.")
	}
	return r, nil
}

// parseRuleSize reads "100", "20K" or "5M" (octets, kilo- or megabytes of 1024).
func parseRuleSize(s string) (int64, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 1<<40/mult {
		return 0, fmt.Errorf("a size is a number, optionally followed by K or M")
	}
	return n * mult, nil
}

// singleLine refuses control characters (line breaks included) and over-long values.
func singleLine(what, v string, max int) error {
	if len(v) > max {
		return bad("%s is too long (at most %d characters).", what, max)
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return bad("%s must be a single line without control characters.", what)
	}
	return nil
}

// lines splits a textarea into its non-empty trimmed lines (commas also separate).
func lines(v string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// applySettingsForm changes set by one posted form; it returns the key of the notice.
func applySettingsForm(set *sieve.Settings, op string, r *http.Request) (string, error) {
	switch op {
	case "vacation":
		return "vacation", applyVacation(set, r)
	case "forward":
		to := lines(r.PostFormValue("forward_to"))
		set.Forward = nil
		if len(to) > 0 {
			set.Forward = &sieve.Forward{To: to, KeepCopy: r.PostFormValue("keep") != ""}
		}
		return "forward", nil
	case "lists":
		set.Block, set.Allow = lines(r.PostFormValue("block")), lines(r.PostFormValue("allow"))
		if len(set.Block) > maxListEntries || len(set.Allow) > maxListEntries {
			return "", bad("A list holds at most %d senders.", maxListEntries)
		}
		return "lists", nil
	case "block-sender":
		// The message view posts its From line as shown (decoded "Name <addr>"); the
		// address joins the block list (the generated script discards its mail).
		a, err := mail.ParseAddress(r.PostFormValue("from"))
		if err != nil {
			return "", bad("The sender's address does not parse.")
		}
		addr := strings.ToLower(a.Address)
		if slices.ContainsFunc(set.Block, func(b string) bool { return strings.EqualFold(b, addr) }) {
			return "blocked", nil
		}
		if len(set.Block) >= maxListEntries {
			return "", bad("A list holds at most %d senders.", maxListEntries)
		}
		set.Block = append(slices.Clone(set.Block), addr)
		set.Allow = slices.DeleteFunc(slices.Clone(set.Allow), func(b string) bool { return strings.EqualFold(b, addr) })
		return "blocked", nil
	case "rule-save":
		rl, err := ruleFormFrom(r).rule()
		if err != nil {
			return "", err
		}
		i := atoiOr(r.PostFormValue("idx"), -1)
		switch {
		case r.PostFormValue("idx") == "" || i < 0:
			if len(set.Rules) >= maxRules {
				return "", bad("At most %d rules.", maxRules)
			}
			set.Rules = append(slices.Clone(set.Rules), rl)
		case i < len(set.Rules):
			set.Rules = slices.Clone(set.Rules)
			set.Rules[i] = rl
		default:
			return "", bad("That rule no longer exists; reload the page.")
		}
		return "rule", nil
	case "rule-up", "rule-down", "rule-delete":
		i := atoiOr(r.PostFormValue("idx"), -1)
		if i < 0 || i >= len(set.Rules) {
			return "", bad("That rule no longer exists; reload the page.")
		}
		set.Rules = slices.Clone(set.Rules)
		switch {
		case op == "rule-delete":
			set.Rules = slices.Delete(set.Rules, i, i+1)
			return "deleted", nil
		case op == "rule-up" && i > 0:
			set.Rules[i-1], set.Rules[i] = set.Rules[i], set.Rules[i-1]
		case op == "rule-down" && i+1 < len(set.Rules):
			set.Rules[i+1], set.Rules[i] = set.Rules[i], set.Rules[i+1]
		}
		return "order", nil
	}
	return "", bad("Unknown form.")
}

// applyVacation reads the auto-reply form. The subject is one line; the text may have
// several, and reaches the script only as a quoted string (sieve.Generate), so no input
// can add headers or commands.
func applyVacation(set *sieve.Settings, r *http.Request) error {
	if r.PostFormValue("enabled") == "" {
		set.Vacation = nil
		return nil
	}
	subject, body := strings.TrimSpace(r.PostFormValue("subject")), r.PostFormValue("body")
	if err := singleLine("The subject", subject, 500); err != nil {
		return err
	}
	if len(body) > maxVacationLen {
		return bad("The reply text is too long (at most %d characters).", maxVacationLen)
	}
	if strings.IndexFunc(body, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }) >= 0 {
		return bad("The reply text contains control characters.")
	}
	v := &sieve.Vacation{Subject: subject, Body: strings.ReplaceAll(body, "\r\n", "\n")}
	if d := strings.TrimSpace(r.PostFormValue("days")); d != "" {
		n := atoiOr(d, -1)
		if n < 1 || n > 365 {
			return bad("Days between replies: a number from 1 to 365.")
		}
		v.Days = n
	}
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"start", &v.Start}, {"end", &v.End}} {
		s := strings.TrimSpace(r.PostFormValue(f.name))
		if s == "" {
			continue
		}
		t, err := time.Parse(dateLayout, s)
		if err != nil {
			return bad("The %s date must be a date (YYYY-MM-DD).", f.name)
		}
		*f.to = t
	}
	set.Vacation = v
	return nil
}

// ruleSummary is a rule in words, for the list.
func ruleSummary(r sieve.Rule) string {
	var conds []string
	for _, c := range r.Conditions {
		field := string(c.Field)
		if c.Field == sieve.FieldHeader {
			field = c.Header
		}
		not := ""
		if c.Not {
			not = "not "
		}
		val := strconv.Quote(c.Value)
		if c.Field == sieve.FieldSize {
			val = strconv.FormatInt(c.Size, 10) + " bytes"
		}
		conds = append(conds, field+" "+not+string(c.Op)+" "+val)
	}
	when := "always"
	if len(conds) > 0 {
		join := " and "
		if r.Any {
			join = " or "
		}
		when = "if " + strings.Join(conds, join)
	}
	var acts []string
	for _, a := range r.Actions {
		switch a.Type {
		case sieve.ActFileInto:
			acts = append(acts, "move to "+a.Mailbox)
		case sieve.ActFlag:
			acts = append(acts, "flag "+a.Flag)
		case sieve.ActForward:
			s := "forward to " + a.Address
			if a.KeepCopy {
				s += " (keep a copy)"
			}
			acts = append(acts, s)
		case sieve.ActReject:
			acts = append(acts, "reject")
		default:
			acts = append(acts, string(a.Type))
		}
	}
	return when + ": " + strings.Join(acts, ", ")
}
