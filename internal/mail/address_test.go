package mail

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// validCases are addresses Parse must accept, with the normalised result.
var validCases = []struct {
	in            string
	local, domain string
	key, str      string // "" str: same as in
	ascii         bool
}{
	// Plain forms. The local part keeps its case; the domain is lower-cased; Key folds both.
	{in: "user@example.com", local: "user", domain: "example.com", key: "user@example.com", ascii: true},
	{in: "User@EXAMPLE.COM", local: "User", domain: "example.com", key: "user@example.com", str: "User@example.com", ascii: true},
	{in: "first.last@sub.example.com", local: "first.last", domain: "sub.example.com", key: "first.last@sub.example.com", ascii: true},
	{in: "u+tag@example.com", local: "u+tag", domain: "example.com", key: "u+tag@example.com", ascii: true},
	// RFC 5322 3.2.3 atext, less the routing characters % and !.
	{in: "#$&'*+-/=?^_`{|}~@example.com", local: "#$&'*+-/=?^_`{|}~", domain: "example.com", key: "#$&'*+-/=?^_`{|}~@example.com", ascii: true},
	{in: "u@localhost", local: "u", domain: "localhost", key: "u@localhost", ascii: true},
	// One trailing dot (the DNS root) is dropped.
	{in: "u@Example.COM.", local: "u", domain: "example.com", key: "u@example.com", str: "u@example.com", ascii: true},

	// Quoted local parts (RFC 5321 4.1.2 Quoted-string): unquoted when stored, re-quoted
	// by String only when needed.
	{in: `"a b"@example.com`, local: "a b", domain: "example.com", key: "a b@example.com", ascii: true},
	{in: `"john.doe"@example.com`, local: "john.doe", domain: "example.com", key: "john.doe@example.com", str: "john.doe@example.com", ascii: true},
	{in: `"A..b"@example.com`, local: "A..b", domain: "example.com", key: "a..b@example.com", ascii: true},
	{in: `".a"@example.com`, local: ".a", domain: "example.com", key: ".a@example.com", ascii: true},
	{in: `"a\"b"@example.com`, local: `a"b`, domain: "example.com", key: `a"b@example.com`, ascii: true},
	{in: `"a\\b"@example.com`, local: `a\b`, domain: "example.com", key: `a\b@example.com`, ascii: true},
	{in: `"\a\b"@example.com`, local: "ab", domain: "example.com", key: "ab@example.com", str: "ab@example.com", ascii: true},
	{in: `"a(b)c"@example.com`, local: "a(b)c", domain: "example.com", key: "a(b)c@example.com", ascii: true},

	// IDNA (RFC 5890/5891): U-labels and A-labels in any case give one ASCII domain.
	{in: "u@bücher.example", local: "u", domain: "xn--bcher-kva.example", key: "u@xn--bcher-kva.example", str: "u@xn--bcher-kva.example", ascii: true},
	{in: "u@BÜCHER.Example", local: "u", domain: "xn--bcher-kva.example", key: "u@xn--bcher-kva.example", str: "u@xn--bcher-kva.example", ascii: true},
	{in: "u@XN--BCHER-KVA.EXAMPLE", local: "u", domain: "xn--bcher-kva.example", key: "u@xn--bcher-kva.example", str: "u@xn--bcher-kva.example", ascii: true},
	// IDNA2008, non-transitional: ß stays ß (not "ss").
	{in: "u@faß.de", local: "u", domain: "xn--fa-hia.de", key: "u@xn--fa-hia.de", str: "u@xn--fa-hia.de", ascii: true},

	// SMTPUTF8 (RFC 6531 3.3) local parts; Key folds their case.
	{in: "élodie@example.test", local: "élodie", domain: "example.test", key: "élodie@example.test"},
	{in: "ÉLODIE@example.test", local: "ÉLODIE", domain: "example.test", key: "élodie@example.test"},
	{in: "Élodie@Bücher.example", local: "Élodie", domain: "xn--bcher-kva.example", key: "élodie@xn--bcher-kva.example", str: "Élodie@xn--bcher-kva.example"},
	{in: "用户@例子.广告", local: "用户", domain: "xn--fsqu00a.xn--4rr70v", key: "用户@xn--fsqu00a.xn--4rr70v", str: "用户@xn--fsqu00a.xn--4rr70v"},
	{in: "Δοκιμή@παράδειγμα.δοκιμή", local: "Δοκιμή", domain: "xn--hxajbheg2az3al.xn--jxalpdlp", key: "δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp", str: "Δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp"},

	// Length limits (RFC 5321 4.5.3.1): 64-octet local part, 63-octet labels.
	{in: strings.Repeat("a", 64) + "@example.com", local: strings.Repeat("a", 64), domain: "example.com", key: strings.Repeat("a", 64) + "@example.com", ascii: true},
	{in: "a@" + strings.Repeat("b", 63) + ".com", local: "a", domain: strings.Repeat("b", 63) + ".com", key: "a@" + strings.Repeat("b", 63) + ".com", ascii: true},
}

func TestParseValid(t *testing.T) {
	for _, c := range validCases {
		a, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		str := c.str
		if str == "" {
			str = c.in
		}
		if a.Local != c.local || a.Domain != c.domain || a.Key() != c.key || a.String() != str || a.IsASCII() != c.ascii {
			t.Errorf("Parse(%q) = local %q domain %q key %q string %q ascii %v;\n want local %q domain %q key %q string %q ascii %v",
				c.in, a.Local, a.Domain, a.Key(), a.String(), a.IsASCII(), c.local, c.domain, c.key, str, c.ascii)
		}
		b, err := Parse(a.String())
		if err != nil || b != a {
			t.Errorf("Parse(String() of %q = %q) = %+v, %v; want %+v", c.in, a.String(), b, err, a)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		in   string
		want error // nil: any error
	}{
		{"", ErrEmpty},
		// Not an address.
		{"@", nil},
		{"u@", ErrSyntax},
		{"u", ErrSyntax},
		{"@example.com", nil},
		{"a..b@example.com", ErrSyntax},
		{".a@example.com", ErrSyntax},
		{"a.@example.com", ErrSyntax},
		{"u v@example.com", ErrSyntax},
		{"<u@example.com>", ErrSyntax},
		{"u@@example.com", ErrSyntax},
		{"u@a@example.com", ErrSyntax},
		{"u(comment)@example.com", ErrSyntax},
		{`a"b@example.com`, ErrSyntax},
		{`"abc@example.com`, ErrSyntax},
		{`""@example.com`, ErrSyntax},
		{`"a"b"@example.com`, ErrSyntax},
		{`"abc\"@example.com`, ErrSyntax},
		{"\"a\x01\"@example.com", ErrSyntax},
		{"\"a\x7f\"@example.com", ErrSyntax},
		{"u\x00@example.com", ErrSyntax},
		{"\xff@example.com", ErrSyntax},
		{"u\r\n@example.com", ErrSyntax},

		// Open-relay tricks (RFC 5321 3.6.1, 4.1.2; RFC 1123 5.2.16 %-hack; UUCP bang paths),
		// plain and hidden in quotes.
		{"@a,@b:u@c.test", ErrSourceRoute},
		{"@relay.test:u@c.test", ErrSourceRoute},
		{"u%v@local.test", ErrRouting},
		{"u%v.test@local.test", ErrRouting},
		{"host!u@local.test", ErrRouting},
		{`"u@other.test"@local.test`, ErrRouting},
		{`"u%v"@local.test`, ErrRouting},
		{`"host!u"@local.test`, ErrRouting},
		{`"u\%v"@local.test`, ErrRouting},
		{`"u\@other.test"@local.test`, ErrRouting},
		{`"@a,@b:u@c.test"@local.test`, ErrRouting},

		// Lengths (RFC 5321 4.5.3.1).
		{long(65) + "@example.com", ErrTooLong},
		{`"` + long(65) + `"@example.com`, ErrTooLong},
		{"u@" + long(MaxPathLen), ErrTooLong},
		{"a@" + long(64) + ".com", ErrDomain},                                 // 64-octet label
		{"a@" + strings.Repeat(long(49)+".", 5) + long(4), ErrDomain},         // 254-octet domain
		{long(MaxPathLen-len("@example.com")+1) + "@example.com", ErrTooLong}, // 257 octets

		// Domains that are not mail domains here.
		{"u@[192.0.2.1]", ErrDomain},
		{"u@[IPv6:2001:db8::1]", ErrDomain},
		{"u@com", ErrDomain},
		{"u@.", ErrDomain},
		{"u@.example.com", ErrDomain},
		{"u@a..example.com", ErrDomain},
		{"u@exa_mple.com", ErrDomain},
		{"u@-example.com", ErrDomain},
		{"u@example-.com", ErrDomain},
		{"u@xn--zz.example", ErrDomain},
		{"u@ex ample.com", ErrDomain},
		{"u@example.com>", ErrDomain},
		{"u@example.com\x00", ErrDomain},
	}
	for _, c := range cases {
		a, err := Parse(c.in)
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("Parse(%q) = %+v, %v; want error %v", c.in, a, err, c.want)
		}
		if err == nil {
			continue
		}
		if a != (Address{}) {
			t.Errorf("Parse(%q) returned %+v with its error", c.in, a)
		}
	}
}

func TestMustParse(t *testing.T) {
	if a := MustParse("Bob@Example.com"); a.Key() != "bob@example.com" {
		t.Errorf("MustParse = %+v", a)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustParse of an invalid address did not panic")
		}
	}()
	MustParse("u%v@example.com")
}

func TestBase(t *testing.T) {
	cases := []struct{ in, base, detail string }{
		{"bob+news@example.com", "bob@example.com", "news"},
		{"Bob+News@example.com", "Bob@example.com", "News"},
		{"bob+a+b@example.com", "bob@example.com", "a+b"},
		{"bob+@example.com", "bob@example.com", ""},
		{"bob@example.com", "bob@example.com", ""},
		{"+news@example.com", "+news@example.com", ""}, // no base local part: not a sub-address
	}
	for _, c := range cases {
		base, detail := MustParse(c.in).Base()
		if base.String() != c.base || detail != c.detail {
			t.Errorf("Base(%s) = %s, %q; want %s, %q", c.in, base, detail, c.base, c.detail)
		}
	}
}

func TestZeroAddress(t *testing.T) {
	var z Address
	if !z.IsZero() || z.String() != "" || !z.IsASCII() {
		t.Errorf("zero Address: IsZero %v String %q IsASCII %v", z.IsZero(), z.String(), z.IsASCII())
	}
	if MustParse("u@example.com").IsZero() {
		t.Error("parsed address IsZero")
	}
}

func TestParseDomain(t *testing.T) {
	for _, in := range []string{"bücher.example", "BÜCHER.EXAMPLE", "xn--bcher-kva.example", "XN--BCHER-KVA.Example", "bücher.example."} {
		if got, err := ParseDomain(in); err != nil || got != "xn--bcher-kva.example" {
			t.Errorf("ParseDomain(%q) = %q, %v; want xn--bcher-kva.example", in, got, err)
		}
	}
	if got := DomainUnicode("xn--bcher-kva.example"); got != "bücher.example" {
		t.Errorf("DomainUnicode = %q, want bücher.example", got)
	}
	if got := DomainUnicode("example.com"); got != "example.com" {
		t.Errorf("DomainUnicode(ASCII) = %q", got)
	}
	for _, in := range []string{"", ".", "[127.0.0.1]", "single", strings.Repeat("a", MaxDomainLen+1)} {
		if got, err := ParseDomain(in); !errors.Is(err, ErrDomain) {
			t.Errorf("ParseDomain(%q) = %q, %v; want ErrDomain", in, got, err)
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts is normalised and stable: the
// String form parses back to the same address (hence the same Key).
func FuzzParse(f *testing.F) {
	for _, c := range validCases {
		f.Add(c.in)
	}
	for _, s := range []string{"", "@", "@a,@b:u@c", "u%v@local", "host!u@local", `"u@other"@local`, `"u%v"@local`,
		`"a\"b\\c"@x.example`, "u@[1.2.3.4]", "u@xn--zz.example", "a@b@c.example", `"`, `"\`, "\xff@x.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			if a != (Address{}) {
				t.Fatalf("Parse(%q) = %+v with error %v", s, a, err)
			}
			return
		}
		if a.Local == "" || len(a.Local) > MaxLocalPartLen || !utf8.ValidString(a.Local) || strings.ContainsAny(a.Local, "%!@") {
			t.Fatalf("Parse(%q): bad local part %q", s, a.Local)
		}
		if d, err := ParseDomain(a.Domain); err != nil || d != a.Domain || !isASCII(d) {
			t.Fatalf("Parse(%q): domain %q is not normalised (%q, %v)", s, a.Domain, d, err)
		}
		b, err := Parse(a.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, but its String %q does not parse: %v", s, a, a.String(), err)
		}
		if b.Key() != a.Key() || b != a {
			t.Fatalf("Parse(%q) = %+v (key %q); Parse(String) = %+v (key %q)", s, a, a.Key(), b, b.Key())
		}
	})
}

// Regressions found by the directory engineer's review and fuzzing.
func TestParseRegressions(t *testing.T) {
	for _, bad := range []string{
		"u@example.com..",       // two trailing dots
		"0@00..",                // fuzzer find
		"a\u202Eb@example.test", // bidi override
		"a\u0085b@example.test", // C1 control
		`"` + strings.Repeat("a", 64) + `"@example.test`, // 66 octets quoted
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if _, err := Parse("@example.com"); !errors.Is(err, ErrSyntax) {
		t.Errorf("@example.com: %v, want ErrSyntax", err)
	}
	long := strings.Repeat("a", 64) + "@àîüđĭŉ.ťźƫǎǣȍ.ȩɓɡɯɽʋ.ʙʧαούϰ.ныљѵҟһ.ӗӳԏԫժո.ֆçõăğł.ŗųƈƹǜǿ.țȷɚɨɶʄ.ʒʠʮθφϛ.example"
	if a, err := Parse(long); err == nil {
		t.Errorf("Parse accepted an address whose ASCII form is %d octets", len(a.String()))
	}
	// One key for canonically equivalent and case-folded spellings.
	for _, pair := range [][2]string{
		{"élodie@example.test", "e\u0301lodie@example.test"},
		{"ſam@example.test", "SAM@example.test"},
		{"ΣΟΦΙΑ@example.test", "σοφια@example.test"},
	} {
		a, b := MustParse(pair[0]), MustParse(pair[1])
		if a.Key() != b.Key() {
			t.Errorf("%q and %q: keys %q != %q", pair[0], pair[1], a.Key(), b.Key())
		}
	}
}
