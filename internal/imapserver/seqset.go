package imapserver

import (
	"sort"
	"strconv"
	"strings"

	"mailgrid/internal/store"
)

// seqRange is one "n" or "n:m" of a sequence set; 0 stands for "*" (RFC 9051 9 seq-number).
type seqRange struct{ lo, hi uint32 }

// seqSet is a parsed sequence-set (RFC 9051 9) or "$", the saved search result
// (RFC 5182 SEARCHRES).
type seqSet struct {
	ranges []seqRange
	dollar bool
}

// seqSet parses a sequence set.
func (p *parser) seqSet() (seqSet, error) {
	var s seqSet
	if p.take('$') {
		s.dollar = true
		return s, nil
	}
	for {
		lo, err := p.seqNumber()
		if err != nil {
			return s, err
		}
		hi := lo
		if p.take(':') {
			if hi, err = p.seqNumber(); err != nil {
				return s, err
			}
		}
		s.ranges = append(s.ranges, seqRange{lo, hi})
		if !p.take(',') {
			return s, nil
		}
	}
}

func (p *parser) seqNumber() (uint32, error) {
	if p.take('*') {
		return 0, nil
	}
	return p.nzNumber()
}

// bounds resolves "*" to max and orders a range.
func (r seqRange) bounds(max uint32) (uint32, uint32) {
	lo, hi := r.lo, r.hi
	if lo == 0 {
		lo = max
	}
	if hi == 0 {
		hi = max
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi
}

// contains reports whether n is in the set, with "*" being max.
func (s seqSet) contains(n, max uint32) bool {
	for _, r := range s.ranges {
		lo, hi := r.bounds(max)
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}

// uidSet is a sorted list of disjoint UID ranges, as COPYUID and ESEARCH print them.
type uidSet []seqRange

// compactUIDs turns sorted UIDs into ranges.
func compactUIDs(uids []store.UID) uidSet {
	var out uidSet
	for _, u := range uids {
		n := uint32(u)
		if k := len(out); k > 0 && out[k-1].hi+1 == n {
			out[k-1].hi = n
			continue
		}
		out = append(out, seqRange{n, n})
	}
	return out
}

// String formats the set as "1:3,7" (RFC 9051 9 sequence-set), in the given order.
func (s uidSet) String() string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(r.lo), 10))
		if r.hi != r.lo {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(r.hi), 10))
		}
	}
	return b.String()
}

// numSetString formats numbers (sorted or not) compactly, keeping their order: COPYUID
// source and destination sets must pair up element by element (RFC 4315 3).
func numSetString(ns []uint32) string {
	var out uidSet
	for _, n := range ns {
		if k := len(out); k > 0 && out[k-1].hi+1 == n {
			out[k-1].hi = n
			continue
		}
		out = append(out, seqRange{n, n})
	}
	return out.String()
}

func sortUIDs(u []store.UID) {
	sort.Slice(u, func(i, j int) bool { return u[i] < u[j] })
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
