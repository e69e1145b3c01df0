package sieve

import (
	"fmt"
	netmail "net/mail"
	"strings"
	"time"
)

// dateTest is date or currentdate (RFC 5260 4, 5):
//
//	date [":zone" <zone> / ":originalzone"] [COMPARATOR] [MATCH-TYPE]
//	     <header-name: string> <date-part: string> <key-list: string-list>
//	currentdate [":zone" <zone>] [COMPARATOR] [MATCH-TYPE] <date-part: string> <key-list>
type dateTest struct {
	current  bool
	zone     *strExpr // :zone
	original bool     // :originalzone
	header   strExpr
	part     string
	m        *matcher
}

func (c *compiler) date(n *node) (test, error) {
	if err := c.needs("date", n.pos, n.name); err != nil {
		return nil, err
	}
	t := &dateTest{current: n.name == "currentdate"}
	r := c.args(n)
	var o matchOpts
	for {
		tag, pos, ok, err := r.nextTag()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if handled, err := r.matchTag(&o, tag, pos, false); handled || err != nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		if err := t.zoneTag(r, tag, pos); err != nil {
			return nil, err
		}
	}
	var err error
	if !t.current {
		if t.header, err = r.str("header name", Position{}); err != nil {
			return nil, err
		}
	}
	part, ppos, err := r.rawString("date part", Position{})
	if err != nil {
		return nil, err
	}
	if t.part = strings.ToLower(part); !validDatePart(t.part) {
		return nil, errorf(ppos, "unknown date part %q (RFC 5260 4.2)", part)
	}
	keys, err := r.list("key list", Position{})
	if err != nil {
		return nil, err
	}
	if t.m, err = c.matcher(o, keys); err != nil {
		return nil, err
	}
	return t, r.end()
}

func (t *dateTest) zoneTag(r *argReader, tag string, pos Position) error {
	switch {
	case tag == "originalzone" && !t.current && t.zone == nil:
		t.original = true
		return nil
	case tag == "zone" && !t.original:
		z, err := r.str("time zone", pos)
		if err != nil {
			return err
		}
		if _, ok := parseZone(z.lit); z.constant() && !ok {
			return errorf(z.pos, "invalid time zone %q (RFC 5260 4.1: +hhmm or -hhmm)", z.lit)
		}
		t.zone = &z
		return nil
	case tag == "zone" || tag == "originalzone":
		return errorf(pos, "%s: :zone and :originalzone exclude each other", r.n.name)
	}
	return r.unknownTag(tag, pos)
}

func (t *dateTest) eval(m *machine) (bool, error) {
	now := m.opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	d := now
	if !t.current {
		var ok bool
		if d, ok = m.headerDate(m.expand(t.header)); !ok {
			return false, nil
		}
		if !t.original {
			d = d.In(now.Location()) // RFC 5260 4.1: the local zone by default
		}
	}
	if t.zone != nil {
		loc, ok := parseZone(m.expand(*t.zone))
		if !ok {
			return false, nil
		}
		d = d.In(loc)
	}
	return t.m.test(m, []string{datePart(d, t.part)})
}

// headerDate parses the first field named name as an RFC 5322 date; for Received, the
// date after the last ";" (RFC 5260 4).
func (m *machine) headerDate(name string) (time.Time, bool) {
	vals := m.msg.Header(name)
	if len(vals) == 0 {
		return time.Time{}, false
	}
	v := vals[0]
	if strings.EqualFold(name, "received") {
		i := strings.LastIndexByte(v, ';')
		if i < 0 {
			return time.Time{}, false
		}
		v = v[i+1:]
	}
	d, err := netmail.ParseDate(strings.TrimSpace(v))
	return d, err == nil
}

// parseZone reads "+hhmm" or "-hhmm".
func parseZone(s string) (*time.Location, bool) {
	if len(s) != 5 || s[0] != '+' && s[0] != '-' || !isDigits(s[1:]) {
		return nil, false
	}
	h, mnt := int(s[1]-'0')*10+int(s[2]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	if h > 23 || mnt > 59 {
		return nil, false
	}
	off := (h*60 + mnt) * 60
	if s[0] == '-' {
		off = -off
	}
	return time.FixedZone(s, off), true
}

func validDatePart(p string) bool {
	switch p {
	case "year", "month", "day", "date", "julian", "hour", "minute", "second", "time",
		"iso8601", "std11", "zone", "weekday":
		return true
	}
	return false
}

// datePart formats a date part (RFC 5260 4.2).
func datePart(d time.Time, p string) string {
	switch p {
	case "year":
		return fmt.Sprintf("%04d", d.Year())
	case "month":
		return fmt.Sprintf("%02d", int(d.Month()))
	case "day":
		return fmt.Sprintf("%02d", d.Day())
	case "date":
		return d.Format("2006-01-02")
	case "julian":
		// Modified Julian Day: days since 1858-11-17.
		y, mo, dd := d.Date()
		day := time.Date(y, mo, dd, 0, 0, 0, 0, time.UTC)
		return fmt.Sprint(int(day.Sub(time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)).Hours() / 24))
	case "hour":
		return fmt.Sprintf("%02d", d.Hour())
	case "minute":
		return fmt.Sprintf("%02d", d.Minute())
	case "second":
		return fmt.Sprintf("%02d", d.Second())
	case "time":
		return d.Format("15:04:05")
	case "iso8601":
		return d.Format("2006-01-02T15:04:05-07:00")
	case "std11":
		return d.Format("Mon, 02 Jan 2006 15:04:05 -0700")
	case "zone":
		return d.Format("-0700")
	default: // weekday: 0 is Sunday
		return fmt.Sprint(int(d.Weekday()))
	}
}
