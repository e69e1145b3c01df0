package sieve

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// comparator is a collation (RFC 5228 2.7.3, RFC 4790).
type comparator uint8

const (
	cmpCasemap comparator = iota // i;ascii-casemap, the default
	cmpOctet                     // i;octet
	cmpNumeric                   // i;ascii-numeric (RFC 4790 9.1)
)

func comparatorByName(name string) (comparator, string, bool) {
	switch strings.ToLower(name) {
	case "i;ascii-casemap":
		return cmpCasemap, "", true
	case "i;octet":
		return cmpOctet, "", true
	case "i;ascii-numeric":
		return cmpNumeric, "comparator-i;ascii-numeric", true
	}
	return 0, "", false
}

type matchKind uint8

const (
	mtIs matchKind = iota // the default (RFC 5228 2.7.1)
	mtContains
	mtMatches
	mtRegex
	mtCount // RFC 5231 4.2
	mtValue // RFC 5231 4.1
)

type relation uint8

const (
	relGT relation = iota + 1
	relGE
	relLT
	relLE
	relEQ
	relNE
)

// relationByName parses RFC 5231 5 relational-match.
func relationByName(s string) (relation, bool) {
	switch strings.ToLower(s) {
	case "gt":
		return relGT, true
	case "ge":
		return relGE, true
	case "lt":
		return relLT, true
	case "le":
		return relLE, true
	case "eq":
		return relEQ, true
	case "ne":
		return relNE, true
	}
	return 0, false
}

func (r relation) holds(c int) bool {
	switch r {
	case relGT:
		return c > 0
	case relGE:
		return c >= 0
	case relLT:
		return c < 0
	case relLE:
		return c <= 0
	case relEQ:
		return c == 0
	default:
		return c != 0
	}
}

// matcher is the COMPARATOR and MATCH-TYPE of a test with its key list.
type matcher struct {
	cmp     comparator
	kind    matchKind
	rel     relation
	keys    strList
	regexps []*regexp.Regexp // per key, compiled at compile time when the key is constant
}

// test reports whether any value matches any key (RFC 5228 2.7.1). A successful
// :matches or :regex sets the match variables (RFC 5229 3.2) when the script uses
// variables.
func (mt *matcher) test(m *machine, values []string) (bool, error) {
	keys := m.expandList(mt.keys)
	if mt.kind == mtCount {
		// RFC 5231 4.2: the number of values, compared as a decimal string.
		n := strconv.Itoa(len(values))
		for _, k := range keys {
			if mt.rel.holds(compare(mt.cmp, n, k)) {
				return true, nil
			}
		}
		return false, nil
	}
	prepared := make([]key, len(keys))
	for i, k := range keys {
		prepared[i] = key{raw: k}
		switch {
		case mt.kind == mtContains && mt.cmp == cmpCasemap:
			prepared[i].folded = asciiLower(k)
		case mt.kind == mtMatches:
			prepared[i].glob = compileGlob(k)
		}
	}
	for _, v := range values {
		sv := &subject{raw: v}
		for i := range prepared {
			ok, err := mt.one(m, sv, &prepared[i], i)
			if err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}

// key is a key with the forms its match type needs, prepared once per test.
type key struct {
	raw, folded string
	glob        globPattern
}

// subject is a value whose other forms are computed once, on first use.
type subject struct {
	raw    string
	folded *string
	runes  []rune
}

func (s *subject) lower() string {
	if s.folded == nil {
		f := asciiLower(s.raw)
		s.folded = &f
	}
	return *s.folded
}

func (s *subject) chars() []rune {
	if s.runes == nil {
		s.runes = []rune(s.raw)
	}
	return s.runes
}

func (mt *matcher) one(m *machine, v *subject, k *key, i int) (bool, error) {
	if err := m.spend(int64(len(v.raw)) + int64(len(k.raw)) + 1); err != nil {
		return false, err
	}
	switch mt.kind {
	case mtIs:
		return compare(mt.cmp, v.raw, k.raw) == 0, nil
	case mtValue:
		return mt.rel.holds(compare(mt.cmp, v.raw, k.raw)), nil
	case mtContains:
		if mt.cmp == cmpCasemap {
			return strings.Contains(v.lower(), k.folded), nil
		}
		return strings.Contains(v.raw, k.raw), nil
	case mtMatches:
		caps, ok, err := k.glob.match(m, v.chars(), mt.cmp == cmpCasemap)
		if ok && m.script.variables {
			m.setMatch(v.raw, caps)
		}
		return ok, err
	default:
		return mt.regex(m, v.raw, k.raw, i)
	}
}

func (mt *matcher) regex(m *machine, v, k string, i int) (bool, error) {
	re := mt.regexps[i]
	if re == nil {
		var err error
		if re, err = m.regexp(k, mt.cmp); err != nil {
			return false, err
		}
	}
	if !m.script.variables {
		return re.MatchString(v), nil
	}
	sub := re.FindStringSubmatch(v)
	if sub == nil {
		return false, nil
	}
	m.setMatch(sub[0], sub[1:])
	return true, nil
}

// compileRegex compiles a :regex key. Go's RE2 syntax is close to POSIX extended
// regular expressions and runs in time linear in the input, so a hostile pattern cannot
// stall delivery. i;ascii-casemap matches case-insensitively.
func compileRegex(k string, cmp comparator) (*regexp.Regexp, error) {
	if len(k) > 1024 {
		return nil, errors.New("longer than 1024 bytes")
	}
	if cmp == cmpCasemap {
		k = "(?i)" + k
	}
	return regexp.Compile(k)
}

// compare orders a and b under a comparator (RFC 4790): i;octet byte-wise,
// i;ascii-casemap after mapping a-z to A-Z (RFC 4790 9.2), i;ascii-numeric by the
// number the leading digits spell, a string without one being positive infinity.
func compare(c comparator, a, b string) int {
	switch c {
	case cmpOctet:
		return strings.Compare(a, b)
	case cmpNumeric:
		return compareNumeric(a, b)
	}
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := asciiUpperByte(a[i]), asciiUpperByte(b[i])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

func compareNumeric(a, b string) int {
	da, db := leadingDigits(a), leadingDigits(b)
	switch {
	case da == "" && db == "":
		return 0
	case da == "":
		return 1
	case db == "":
		return -1
	}
	da, db = strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
	if len(da) != len(db) {
		return len(da) - len(db)
	}
	return strings.Compare(da, db)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

func asciiUpperByte(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// asciiLower maps only A-Z, as i;ascii-casemap does.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// globElem is one element of a :matches pattern: a character, "?" or "*".
type globElem struct {
	r    rune
	kind uint8 // 0 literal, '?', '*'
}

// parseGlob reads a :matches key (RFC 5228 2.7.1): "*" any sequence, "?" one
// character, "\" makes the next character literal.
func parseGlob(k string) []globElem {
	out := make([]globElem, 0, len(k))
	for i := 0; i < len(k); {
		r, n := utf8.DecodeRuneInString(k[i:])
		i += n
		switch r {
		case '*':
			out = append(out, globElem{kind: '*'}) // "**" is two wildcards, each a match variable
		case '?':
			out = append(out, globElem{kind: '?'})
		case '\\':
			if i < len(k) {
				r, n = utf8.DecodeRuneInString(k[i:])
				i += n
			}
			out = append(out, globElem{r: r})
		default:
			out = append(out, globElem{r: r})
		}
	}
	return out
}

// globPattern is a :matches key split at "*" into segments (which may hold "?").
type globPattern [][]globElem

func compileGlob(k string) globPattern { return splitStars(parseGlob(k)) }

// match matches text against the pattern and returns what each wildcard matched.
// Wildcards take as little as possible from the left (RFC 5229 3.2, whose examples
// give "[*] *" on "[acme-users] [fwd] ..." ${1} = "acme-users"): every segment between
// two "*" is placed at its leftmost position and the segment after the last "*" is
// anchored at the end. Leftmost placement finds a match whenever one exists, so the
// cost is at most len(text) times len(pattern) comparisons, charged to the run's
// match budget.
func (segs globPattern) match(m *machine, text []rune, fold bool) ([]string, bool, error) {
	starts := make([]int, len(segs)) // where each segment starts in text
	if len(segs) == 1 {
		if len(segs[0]) != len(text) || !segMatch(segs[0], text, fold) {
			return nil, false, nil
		}
		return captures(segs, starts, text), true, nil
	}
	first, last := segs[0], segs[len(segs)-1]
	if len(first)+len(last) > len(text) || !segMatch(first, text, fold) ||
		!segMatch(last, text[len(text)-len(last):], fold) {
		return nil, false, nil
	}
	pos, end := len(first), len(text)-len(last)
	starts[len(segs)-1] = end
	for i := 1; i < len(segs)-1; i++ {
		seg := segs[i]
		found := -1
		for at := pos; at+len(seg) <= end; at++ {
			if err := m.spend(int64(len(seg)) + 1); err != nil {
				return nil, false, err
			}
			if segMatch(seg, text[at:], fold) {
				found = at
				break
			}
		}
		if found < 0 {
			return nil, false, nil
		}
		starts[i], pos = found, found+len(seg)
	}
	return captures(segs, starts, text), true, nil
}

// splitStars splits a pattern at "*" into literal segments (which may hold "?").
func splitStars(pat []globElem) [][]globElem {
	segs := [][]globElem{nil}
	for _, e := range pat {
		if e.kind == '*' {
			segs = append(segs, nil)
			continue
		}
		segs[len(segs)-1] = append(segs[len(segs)-1], e)
	}
	return segs
}

// segMatch reports whether seg matches a prefix of text.
func segMatch(seg []globElem, text []rune, fold bool) bool {
	if len(seg) > len(text) {
		return false
	}
	for i, e := range seg {
		if e.kind == '?' {
			continue
		}
		a, b := e.r, text[i]
		if a != b && !(fold && a < utf8.RuneSelf && b < utf8.RuneSelf && asciiUpperByte(byte(a)) == asciiUpperByte(byte(b))) {
			return false
		}
	}
	return true
}

// captures lists, in pattern order, what each "*" and "?" matched, given where each
// segment starts.
func captures(segs [][]globElem, starts []int, text []rune) []string {
	var out []string
	for i, seg := range segs {
		if i > 0 {
			prevEnd := starts[i-1] + len(segs[i-1])
			out = append(out, string(text[prevEnd:starts[i]]))
		}
		for j, e := range seg {
			if e.kind == '?' {
				out = append(out, string(text[starts[i]+j]))
			}
		}
	}
	return out
}
