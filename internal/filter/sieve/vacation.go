package sieve

import (
	"crypto/sha256"
	"encoding/hex"
	netmail "net/mail"
	"strings"

	"mailgrid/internal/mail"
)

// Bounds of :days (RFC 5230 4.1: the minimum SHOULD be 1; a site maximum MUST be over
// 7 and SHOULD be over 30).
const (
	vacationDefaultDays = 7
	vacationMinDays     = 1
	vacationMaxDays     = 90
)

// VacationAction is an auto-reply the delivery agent should send (RFC 5230). The
// interpreter has already applied the RFC 3834 / RFC 5230 4.5-4.6 rules on whether to
// reply at all; the caller still must
//   - reply at most once per (sender To, Handle) within Days (RFC 5230 4.1, 4.2),
//   - send it with the null reverse path and "Auto-Submitted: auto-replied" (RFC 3834
//     3.1.7, 5; RFC 5230 5),
//   - set In-Reply-To and References as given (RFC 3834 3.1.5).
type VacationAction struct {
	To         string // the envelope sender of the message: where the reply goes
	From       string // :from (may carry a display name); "" means use Recipient
	Recipient  string // the user's address the message was sent to (RFC 5230 4.5)
	Subject    string // :subject, or "Auto: " and the original subject (RFC 5230 4.3, 5)
	Reason     string // the reply body; with MIME a MIME entity with its own header
	MIME       bool   // :mime (RFC 5230 4.4)
	Days       int    // reply once per sender within this many days (RFC 5230 4.1)
	Handle     string // :handle, or derived from the reply's fields (RFC 5230 4.2)
	InReplyTo  string // Message-ID of the original, with angle brackets; "" if none
	References string // the original's References followed by its Message-ID
}

// vacationCmd is "vacation [:days number] [:subject string] [:from string]
// [:addresses string-list] [:mime] [:handle string] <reason: string>" (RFC 5230 4).
type vacationCmd struct {
	pos       Position
	days      int64
	subject   *strExpr
	from      *strExpr
	handle    *strExpr
	addresses strList
	mime      bool
	reason    strExpr
}

func (c *compiler) vacation(n *node) (command, error) {
	if err := c.shape(n, false, false); err != nil {
		return nil, err
	}
	if err := c.needs("vacation", n.pos, "vacation"); err != nil {
		return nil, err
	}
	v := &vacationCmd{pos: n.pos, days: vacationDefaultDays}
	r := c.args(n)
	for {
		tag, pos, ok, err := r.nextTag()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if err := v.tag(r, tag, pos); err != nil {
			return nil, err
		}
	}
	var err error
	if v.reason, err = r.str("reason", Position{}); err != nil {
		return nil, err
	}
	return v, r.end()
}

func (v *vacationCmd) tag(r *argReader, tag string, pos Position) error {
	var err error
	str := func() *strExpr {
		s, e := r.str(":"+tag+" value", pos)
		err = e
		return &s
	}
	switch tag {
	case "days":
		v.days, err = r.number(":days value", pos)
	case "subject":
		v.subject = str()
	case "from":
		v.from = str()
		if err == nil && v.from.constant() {
			if _, perr := netmail.ParseAddress(v.from.lit); perr != nil {
				return errorf(v.from.pos, "vacation :from %q is not an address (RFC 5230 4.3)", v.from.lit)
			}
		}
	case "handle":
		v.handle = str()
	case "addresses":
		v.addresses, err = r.list(":addresses list", pos)
	case "mime":
		v.mime = true
	default:
		return r.unknownTag(tag, pos)
	}
	return err
}

func (v *vacationCmd) exec(m *machine) error {
	if m.vacation {
		return runtimeErr(v.pos, "vacation may run only once (RFC 5230 4.7)")
	}
	if err := m.conflict(v.pos, ActionVacation); err != nil {
		return err
	}
	m.vacation = true
	own := append(m.expandList(v.addresses), m.opt.Addresses...)
	recipient, skip := m.vacationSkip(own)
	if skip != "" {
		m.skipped = skip
		return nil
	}
	act := &VacationAction{
		To:        m.env.From.String(),
		Recipient: recipient,
		Reason:    m.expand(v.reason),
		MIME:      v.mime,
		Days:      int(min(max(v.days, vacationMinDays), vacationMaxDays)),
	}
	if v.from != nil {
		if f := m.expand(*v.from); validFrom(f) {
			act.From = f
		}
	}
	act.Subject = m.vacationSubject(v.subject)
	if v.handle != nil {
		act.Handle = m.expand(*v.handle)
	} else {
		act.Handle = defaultHandle(act)
	}
	act.InReplyTo, act.References = m.threading()
	return m.add(v.pos, Action{Kind: ActionVacation, Vacation: act})
}

func validFrom(s string) bool {
	_, err := netmail.ParseAddress(s)
	return err == nil
}

// vacationSubject is :subject, or "Auto: " and the original subject (RFC 5230 4.3
// and 5, after RFC 3834 3.1.5).
func (m *machine) vacationSubject(s *strExpr) string {
	if s != nil {
		if v := m.expand(*s); v != "" {
			return v
		}
	}
	if subj := m.msg.Header("Subject"); len(subj) > 0 && subj[0] != "" {
		return truncate("Auto: "+subj[0], 998)
	}
	return "Automated reply"
}

// defaultHandle derives the handle from the reply's content (RFC 5230 4.2): changing the
// text starts a new round of replies.
func defaultHandle(a *VacationAction) string {
	h := sha256.New()
	for _, s := range []string{a.Subject, a.From, a.Reason, map[bool]string{true: "mime"}[a.MIME]} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// threading returns In-Reply-To and References for the reply (RFC 3834 3.1.5).
func (m *machine) threading() (string, string) {
	ids := m.msg.Header("Message-ID")
	if len(ids) == 0 || ids[0] == "" {
		return "", ""
	}
	id := strings.TrimSpace(ids[0])
	refs := m.msg.Header("References")
	if len(refs) > 0 && refs[0] != "" {
		return id, truncate(refs[0]+" "+id, 4000)
	}
	return id, id
}

// vacationSkip decides whether no reply is due; it returns the user's address found in
// the message and, when no reply is due, why.
func (m *machine) vacationSkip(own []string) (string, string) {
	from := m.env.From
	if from.IsZero() {
		return "", "null reverse path (RFC 3834 2, RFC 5230 4.6)"
	}
	local := strings.ToLower(from.Local)
	if local == "mailer-daemon" || local == "listserv" || local == "majordomo" ||
		strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request") {
		return "", "sender " + from.String() + " is an automated address (RFC 3834 2)"
	}
	mine := ownAddresses(m.env.To, own)
	if mine[strings.ToLower(from.String())] {
		return "", "sender is the recipient (RFC 5230 4.6)"
	}
	if why := m.automated(); why != "" {
		return "", why
	}
	for _, h := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		for _, v := range m.msg.Header(h) {
			for _, a := range parseAddressList(v) {
				if addr, _ := a.part(partAll); a.valid && mine[strings.ToLower(addr)] {
					return addr, ""
				}
			}
		}
	}
	return "", "none of the user's addresses is in To/Cc/Bcc (RFC 5230 4.5)"
}

// automated reports headers that mark a message as automatic or bulk.
func (m *machine) automated() string {
	for _, v := range m.msg.Header("Auto-Submitted") {
		kw, _, _ := strings.Cut(v, ";")
		if !strings.EqualFold(strings.TrimSpace(kw), "no") {
			return "Auto-Submitted: " + truncate(v, 100) + " (RFC 3834 2, 5)"
		}
	}
	// RFC 2369 and RFC 2919 list headers (RFC 5230 4.6 names them).
	for _, h := range []string{"List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Post", "List-Owner", "List-Archive"} {
		if len(m.msg.Header(h)) > 0 {
			return "mailing list message (" + h + ")"
		}
	}
	for _, v := range m.msg.Header("Precedence") {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "bulk", "list", "junk":
			return "Precedence: " + v + " (RFC 3834 2)"
		}
	}
	for _, v := range m.msg.Header("X-Auto-Response-Suppress") {
		for _, w := range strings.Split(v, ",") {
			if w = strings.TrimSpace(w); strings.EqualFold(w, "All") || strings.EqualFold(w, "OOF") {
				return "X-Auto-Response-Suppress: " + truncate(v, 100)
			}
		}
	}
	return ""
}

// ownAddresses is the lower-cased set of the user's addresses: the envelope recipient,
// its base without a +detail, and the given ones.
func ownAddresses(to mail.Address, extra []string) map[string]bool {
	set := map[string]bool{}
	if !to.IsZero() {
		set[strings.ToLower(to.String())] = true
		base, _ := to.Base()
		set[strings.ToLower(base.String())] = true
	}
	for _, s := range extra {
		if a := parseOneAddress(s); a.valid {
			v, _ := a.part(partAll)
			set[strings.ToLower(v)] = true
		}
	}
	return set
}
