package mailauth_test

import (
	"strings"
	"testing"
	"time"

	"mailgrid/internal/mail"
	"mailgrid/internal/mailauth"
)

const clientIP = "192.0.2.10"

func spfParams(t *testing.T, from string) (mailauth.SPFParams, func(string, ...string)) {
	t.Helper()
	srv, r := newDNS(t)
	p := mailauth.SPFParams{
		Resolver: r, ClientIP: ip(clientIP), HELO: "mx.sender.test",
		Hostname: "mx.receiver.test", Now: time.Unix(1700000000, 0),
	}
	if from != "" {
		p.MailFrom = mail.MustParse(from)
	}
	return p, srv.SetTXT
}

// TestSPFResults covers each result of RFC 7208 2.6 from a published record.
func TestSPFResults(t *testing.T) {
	cases := []struct {
		name, record string
		want         mailauth.Status
	}{
		{"pass ip4", "v=spf1 ip4:192.0.2.0/24 -all", mailauth.StatusPass},
		{"pass ip6 then ip4", "v=spf1 ip6:2001:db8::/32 ip4:192.0.2.10 -all", mailauth.StatusPass},
		{"fail", "v=spf1 ip4:198.51.100.1 -all", mailauth.StatusFail},
		{"softfail", "v=spf1 ip4:198.51.100.1 ~all", mailauth.StatusSoftFail},
		{"neutral all", "v=spf1 ip4:198.51.100.1 ?all", mailauth.StatusNeutral},
		{"neutral no match", "v=spf1 ip4:198.51.100.1", mailauth.StatusNeutral},
		{"permerror syntax", "v=spf1 ip4:300.1.1.1 -all", mailauth.StatusPermError},
		{"permerror unknown mechanism", "v=spf1 frobnicate -all", mailauth.StatusPermError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, setTXT := spfParams(t, "alice@example.test")
			setTXT("example.test", "some-verification=abc", c.record)
			res, _ := mailauth.CheckSPF(testCtx(t), p)
			if res.Status != c.want || res.Identity != mailauth.IdentityMailFrom || res.Domain != "example.test" {
				t.Fatalf("got %+v, want %s for mailfrom example.test", res, c.want)
			}
			if res.Sender != "alice@example.test" {
				t.Fatalf("sender %q", res.Sender)
			}
			if (res.Explanation != "") != (c.want == mailauth.StatusFail) {
				t.Fatalf("explanation %q for %s", res.Explanation, res.Status)
			}
		})
	}
}

func TestSPFNone(t *testing.T) {
	p, setTXT := spfParams(t, "alice@example.test")
	res, _ := mailauth.CheckSPF(testCtx(t), p) // NXDOMAIN
	if res.Status != mailauth.StatusNone {
		t.Fatalf("no domain: %+v", res)
	}
	setTXT("example.test", "google-site-verification=x") // TXT but no SPF record
	if res, _ = mailauth.CheckSPF(testCtx(t), p); res.Status != mailauth.StatusNone {
		t.Fatalf("no SPF record: %+v", res)
	}
	setTXT("example.test", "v=spf1 -all", "v=spf1 +all") // RFC 7208 4.5: two records
	if res, _ = mailauth.CheckSPF(testCtx(t), p); res.Status != mailauth.StatusPermError {
		t.Fatalf("two records: %+v", res)
	}
}

func TestSPFMechanisms(t *testing.T) {
	srv, r := newDNS(t)
	srv.SetTXT("inc.test", "v=spf1 include:_spf.provider.test -all")
	srv.SetTXT("_spf.provider.test", "v=spf1 ip4:198.51.100.0/24 ip4:192.0.2.10 -all")
	srv.SetTXT("incfail.test", "v=spf1 include:_spf.other.test -all")
	srv.SetTXT("_spf.other.test", "v=spf1 ip4:198.51.100.7 -all")
	srv.SetTXT("incnone.test", "v=spf1 include:nothing.test -all")
	srv.SetTXT("a.test", "v=spf1 a -all")
	srv.SetA("a.test", clientIP)
	srv.SetTXT("acidr.test", "v=spf1 a:web.acidr.test/24 -all")
	srv.SetA("web.acidr.test", "192.0.2.200")
	srv.SetTXT("mx.test", "v=spf1 mx -all")
	srv.SetMX("mx.test", "mail.mx.test", 10)
	srv.SetA("mail.mx.test", "2001:db8::1", clientIP)
	srv.SetTXT("mxmiss.test", "v=spf1 mx -all")
	srv.SetMX("mxmiss.test", "mail.mxmiss.test", 10)
	srv.SetA("mail.mxmiss.test", "192.0.2.11")
	srv.SetTXT("redir.test", "v=spf1 redirect=_spf.redir.test")
	srv.SetTXT("_spf.redir.test", "v=spf1 ip4:192.0.2.0/28 -all")
	srv.SetTXT("redirnone.test", "v=spf1 redirect=nowhere.test")
	srv.SetTXT("exists.test", "v=spf1 exists:%{i}._ip.%{d} -all")
	srv.SetA("192.0.2.10._ip.exists.test", "127.0.0.2")
	srv.SetTXT("local.test", "v=spf1 exists:%{l}.%{o}._users.%{d2} -all")
	srv.SetA("alice.local.test._users.local.test", "127.0.0.2")
	srv.SetTXT("rev.test", "v=spf1 exists:%{ir}.%{v}._rev.%{d} -all")
	srv.SetA("10.2.0.192.in-addr._rev.rev.test", "127.0.0.2")
	cases := []struct {
		domain, local string
		want          mailauth.Status
	}{
		{"inc.test", "alice", mailauth.StatusPass},
		{"incfail.test", "alice", mailauth.StatusFail},      // include not matching: go on to -all
		{"incnone.test", "alice", mailauth.StatusPermError}, // RFC 7208 5.2: include of none
		{"a.test", "alice", mailauth.StatusPass},
		{"acidr.test", "alice", mailauth.StatusPass},
		{"mx.test", "alice", mailauth.StatusPass},
		{"mxmiss.test", "alice", mailauth.StatusFail},
		{"redir.test", "alice", mailauth.StatusPass},
		{"redirnone.test", "alice", mailauth.StatusPermError}, // RFC 7208 6.1
		{"exists.test", "alice", mailauth.StatusPass},         // %{i} %{d}
		{"local.test", "alice", mailauth.StatusPass},          // %{l} %{o} %{d2}
		{"local.test", "bob", mailauth.StatusFail},
		{"rev.test", "alice", mailauth.StatusPass}, // %{ir} %{v}
	}
	for _, c := range cases {
		p := mailauth.SPFParams{Resolver: r, ClientIP: ip(clientIP), HELO: "h.test", MailFrom: mail.MustParse(c.local + "@" + c.domain)}
		res, _ := mailauth.CheckSPF(testCtx(t), p)
		if res.Status != c.want {
			t.Errorf("%s@%s: got %s (%s), want %s", c.local, c.domain, res.Status, res.Reason, c.want)
		}
	}
}

// TestSPFLookupLimit: more than 10 DNS-querying terms is a permerror (RFC 7208 4.6.4).
func TestSPFLookupLimit(t *testing.T) {
	p, setTXT := spfParams(t, "alice@example.test")
	var terms []string
	for i := range 11 {
		name := "n" + string(rune('a'+i)) + ".example.test"
		setTXT(name, "v=spf1 ?all")
		terms = append(terms, "include:"+name)
	}
	setTXT("example.test", "v=spf1 "+strings.Join(terms, " ")+" +all")
	res, _ := mailauth.CheckSPF(testCtx(t), p)
	if res.Status != mailauth.StatusPermError || !strings.Contains(res.Reason, "too many DNS lookups") {
		t.Fatalf("11 includes: %+v", res)
	}
	// Ten are fine.
	setTXT("example.test", "v=spf1 "+strings.Join(terms[:10], " ")+" +all")
	if res, _ = mailauth.CheckSPF(testCtx(t), p); res.Status != mailauth.StatusPass {
		t.Fatalf("10 includes: %+v", res)
	}
}

// TestSPFTempError: SERVFAIL gives temperror (RFC 7208 2.6.6), for the domain itself and
// inside an include, never a permanent verdict.
func TestSPFTempError(t *testing.T) {
	srv, r := newDNS(t)
	srv.SetServFail("example.test")
	srv.SetTXT("inc.test", "v=spf1 include:broken.test -all")
	srv.SetServFail("broken.test")
	srv.SetTXT("amx.test", "v=spf1 a:broken.test -all")
	for _, d := range []string{"example.test", "inc.test", "amx.test"} {
		p := mailauth.SPFParams{Resolver: r, ClientIP: ip(clientIP), HELO: "h.test", MailFrom: mail.MustParse("a@" + d)}
		res, _ := mailauth.CheckSPF(testCtx(t), p)
		if res.Status != mailauth.StatusTempError {
			t.Errorf("%s: %+v", d, res)
		}
	}
}

// TestSPFNullSender: with MAIL FROM:<> the HELO identity is checked as
// postmaster@<HELO> (RFC 7208 2.4) and is the result reported for mailfrom.
func TestSPFNullSender(t *testing.T) {
	p, setTXT := spfParams(t, "")
	setTXT("mx.sender.test", "v=spf1 ip4:192.0.2.10 -all")
	mf, helo := mailauth.CheckSPF(testCtx(t), p)
	if helo.Status != mailauth.StatusPass || helo.Identity != mailauth.IdentityHELO || helo.Sender != "postmaster@mx.sender.test" {
		t.Fatalf("helo %+v", helo)
	}
	if mf != helo {
		t.Fatalf("null sender result %+v is not the HELO result %+v", mf, helo)
	}
	p.HELO = "[192.0.2.10]" // an address literal has no policy (RFC 7208 4.3)
	if mf, _ = mailauth.CheckSPF(testCtx(t), p); mf.Status != mailauth.StatusNone || mf.Identity != mailauth.IdentityHELO {
		t.Fatalf("literal HELO: %+v", mf)
	}
}

// TestSPFHELOCheckedBeside: with a MAIL FROM the HELO identity is still checked
// (RFC 7208 2.3), on its own policy.
func TestSPFHELOCheckedBeside(t *testing.T) {
	p, setTXT := spfParams(t, "alice@example.test")
	setTXT("mx.sender.test", "v=spf1 -all")
	setTXT("example.test", "v=spf1 +all")
	mf, helo := mailauth.CheckSPF(testCtx(t), p)
	if mf.Status != mailauth.StatusPass || helo.Status != mailauth.StatusFail || helo.Domain != "mx.sender.test" {
		t.Fatalf("mailfrom %+v helo %+v", mf, helo)
	}
}

// TestSPFExplanation: exp= is fetched and macro-expanded on fail (RFC 7208 6.2), also
// through redirect=; a broken exp= falls back to the default text.
func TestSPFExplanation(t *testing.T) {
	srv, r := newDNS(t)
	srv.SetTXT("example.test", "v=spf1 ip4:198.51.100.1 -all exp=explain._spf.%{d}")
	srv.SetTXT("explain._spf.example.test", "%{i} is not one of %{d}'s designated mail servers (%{c} to %{r} at %{t}, %{L}%%).")
	srv.SetTXT("redir.test", "v=spf1 redirect=_spf.example.test exp=ignored.redir.test")
	srv.SetTXT("_spf.example.test", "v=spf1 -all exp=why.example.test")
	srv.SetTXT("why.example.test", "See https://example.test/spf?s=%{S}")
	srv.SetTXT("broken.test", "v=spf1 -all exp=missing.broken.test")
	p := mailauth.SPFParams{Resolver: r, ClientIP: ip(clientIP), HELO: "h.test", Hostname: "mx.receiver.test", Now: time.Unix(1700000000, 0)}
	cases := map[string]string{
		"a.b@example.test": "192.0.2.10 is not one of example.test's designated mail servers (192.0.2.10 to mx.receiver.test at 1700000000, a.b%).",
		"c+d@redir.test":   "See https://example.test/spf?s=c%2Bd%40redir.test",
		"e@broken.test":    "broken.test does not designate 192.0.2.10 as permitted sender",
	}
	for from, want := range cases {
		p.MailFrom = mail.MustParse(from)
		res, _ := mailauth.CheckSPF(testCtx(t), p)
		if res.Status != mailauth.StatusFail || res.Explanation != want {
			t.Errorf("%s: %s %q, want %q", from, res.Status, res.Explanation, want)
		}
	}
}
