package sieve

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
)

// refGlob is the textbook recursive matcher: exponential, but obviously right.
func refGlob(p, s []rune) bool {
	if len(p) == 0 {
		return len(s) == 0
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if refGlob(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return len(s) > 0 && refGlob(p[1:], s[1:])
	}
	return len(s) > 0 && p[0] == s[0] && refGlob(p[1:], s[1:])
}

func newTestMachine() *machine {
	return &machine{ctx: context.Background(), script: &Script{}, lim: DefaultLimits()}
}

// TestGlobAgainstReference compares glob with refGlob on random short patterns and
// values over a two-letter alphabet, where every corner (adjacent stars, ? next to *,
// overlapping candidates) shows up.
func TestGlobAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := newTestMachine()
	pick := func(alpha string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alpha[rng.IntN(len(alpha))]
		}
		return string(b)
	}
	for range 20000 {
		p, s := pick("ab*?", rng.IntN(7)), pick("ab", rng.IntN(9))
		caps, got, err := compileGlob(p).match(m, []rune(s), false)
		if err != nil {
			t.Fatal(err)
		}
		if want := refGlob([]rune(p), []rune(s)); got != want {
			t.Fatalf("glob(%q, %q) = %v, want %v", s, p, got, want)
		}
		if !got {
			continue
		}
		// The captures put back into the pattern must rebuild the value.
		var b strings.Builder
		i := 0
		for _, r := range p {
			if r == '*' || r == '?' {
				b.WriteString(caps[i])
				i++
			} else {
				b.WriteRune(r)
			}
		}
		if b.String() != s || i != len(caps) {
			t.Fatalf("glob(%q, %q): captures %q do not rebuild the value", s, p, caps)
		}
	}
	m.work = 0
	if _, ok, _ := compileGlob("?t?").match(m, []rune("ÉTÉ"), true); !ok {
		t.Error("? must match one character, not one octet")
	}
	if _, ok, _ := compileGlob("ÉTÉ").match(m, []rune("été"), true); ok {
		t.Error("i;ascii-casemap folds only ASCII letters")
	}
	if _, ok, _ := compileGlob(`a\*b\?c\\`).match(m, []rune(`a*b?c\`), false); !ok {
		t.Error(`escaped wildcards must match literally`)
	}
}

func TestCompare(t *testing.T) {
	cases := []struct {
		cmp  comparator
		a, b string
		want int // sign
	}{
		{cmpOctet, "a", "A", 1},
		{cmpCasemap, "a", "A", 0},
		{cmpCasemap, "_", "a", 1}, // RFC 4790 9.2: "a" maps to "A" (0x41), below "_" (0x5F)
		{cmpNumeric, "10", "9", 1},
		{cmpNumeric, "007", "7", 0},
		{cmpNumeric, "12abc", "12", 0},
		{cmpNumeric, "abc", "99999", 1},
		{cmpNumeric, "", "x", 0},
	}
	for _, c := range cases {
		got := compare(c.cmp, c.a, c.b)
		sign := map[bool]int{true: 1, false: -1}[got > 0]
		if got == 0 {
			sign = 0
		}
		if sign != c.want {
			t.Errorf("compare(%v, %q, %q) = %d, want sign %d", c.cmp, c.a, c.b, got, c.want)
		}
	}
}

func TestParseAddressList(t *testing.T) {
	cases := []struct {
		in   string
		want string // "all|local|domain" per address, space separated; invalid as "!raw"
	}{
		{"a@b.example", "a@b.example|a|b.example"},
		{"Joe Q. Public <john.q.public@example.com>", "john.q.public@example.com|john.q.public|example.com"},
		{`"Doe, John" <jd@x.example>, second@y.example`, "jd@x.example|jd|x.example second@y.example|second|y.example"},
		{"Doe, John <jd@x.example>", "jd@x.example|jd|x.example"}, // decoded display name with a comma
		{"A Group: ed@x.example, fay@y.example;, after@z.example", "ed@x.example|ed|x.example fay@y.example|fay|y.example after@z.example|after|z.example"},
		{"undisclosed-recipients:;", ""},
		{"pete(his account)@silly.test(his host)", "pete@silly.test|pete|silly.test"},
		{`"quoted local"@example.org`, "quoted local@example.org|quoted local|example.org"},
		{"<@route.example:user@final.example>", "user@final.example|user|final.example"},
		{"root", "root|root|"},
		{"not an address", "!not an address"},
		{"", ""},
	}
	for _, c := range cases {
		var got []string
		for _, a := range parseAddressList(c.in) {
			if !a.valid {
				got = append(got, "!"+a.raw)
				continue
			}
			all, _ := a.part(partAll)
			got = append(got, all+"|"+a.local+"|"+a.domain)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%q: %q, want %q", c.in, strings.Join(got, " "), c.want)
		}
	}
}

// TestInvalidAddressParts: RFC 5228 2.7.4, an invalid address matches only :all.
func TestInvalidAddressParts(t *testing.T) {
	msg := hdrs("x", "From: not an address")
	for script, want := range map[string]string{
		`if address :all :is "from" "not an address" { discard; }`: "discard",
		`if address :localpart :matches "from" "*" { discard; }`:   "keep(implicit)",
		`if address :domain :matches "from" "*" { discard; }`:      "keep(implicit)",
	} {
		if got := summary(runScript(t, script, testMsg{raw: msg, from: "a@b.example"}, RunOptions{})); got != want {
			t.Errorf("%s: %q, want %q", script, got, want)
		}
	}
}

func TestNullEnvelopeSender(t *testing.T) {
	for script, want := range map[string]string{
		`if envelope :is "from" "" { discard; }`:                  "discard",
		`if envelope :domain :is "from" "" { discard; }`:          "discard", // RFC 5228 5.4: "" whatever the part
		`if envelope :matches "from" "?*" { discard; }`:           "keep(implicit)",
		`if envelope :domain :is "to" "example.com" { discard; }`: "discard",
	} {
		got := summary(runScript(t, `require "envelope"; `+script, testMsg{raw: personal}, RunOptions{}))
		if got != want {
			t.Errorf("%s: %q, want %q", script, got, want)
		}
	}
}
