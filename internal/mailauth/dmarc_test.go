package mailauth_test

import (
	"testing"

	"mailgrid/internal/mailauth"
)

func TestOrgDomainAndAlignment(t *testing.T) {
	orgs := map[string]string{
		"example.com":             "example.com",
		"mail.example.com":        "example.com",
		"a.b.mail.example.co.uk":  "example.co.uk",
		"example.co.uk":           "example.co.uk",
		"co.uk":                   "co.uk", // a public suffix is its own
		"Mail.Example.Test.":      "example.test",
		"x.user.blogspot.com":     "user.blogspot.com", // private section of the list
		"bar.foo.example.test":    "example.test",
		"localhost":               "localhost",
		"":                        "",
		"mail.example.gov.au":     "example.gov.au",
		"mx.example.xn--p1ai":     "example.xn--p1ai",
		"deep.sub.example.com.br": "example.com.br",
	}
	for d, want := range orgs {
		if got := mailauth.OrgDomain(d); got != want {
			t.Errorf("OrgDomain(%q) = %q, want %q", d, got, want)
		}
	}
	aligned := []struct {
		auth, from     string
		strict, expect bool
	}{
		{"example.com", "example.com", true, true},
		{"EXAMPLE.com", "example.com", true, true},
		{"mail.example.com", "example.com", false, true},
		{"mail.example.com", "example.com", true, false},
		{"example.com", "news.example.com", false, true},
		{"a.example.co.uk", "b.example.co.uk", false, true},
		{"example.co.uk", "other.co.uk", false, false},
		{"evil-example.com", "example.com", false, false},
		{"", "example.com", false, false},
	}
	for _, c := range aligned {
		if got := mailauth.Aligned(c.auth, c.from, c.strict); got != c.expect {
			t.Errorf("Aligned(%q, %q, strict=%v) = %v", c.auth, c.from, c.strict, got)
		}
	}
}

func spfPass(domain string) mailauth.SPFResult {
	return mailauth.SPFResult{Status: mailauth.StatusPass, Identity: mailauth.IdentityMailFrom, Domain: domain, Sender: "bounce@" + domain}
}

func dkimRes(status mailauth.Status, domain string) []mailauth.DKIMResult {
	return []mailauth.DKIMResult{{Status: status, Domain: domain, Selector: "s"}}
}

// TestDMARCEvaluate covers policy discovery (RFC 7489 6.6.3) and alignment (3.1) against
// records published on the loopback DNS.
func TestDMARCEvaluate(t *testing.T) {
	srv, r := newDNS(t)
	srv.SetTXT("_dmarc.example.test", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:agg@example.test")
	srv.SetTXT("_dmarc.strict.test", "v=DMARC1; p=quarantine; aspf=s; adkim=s")
	srv.SetTXT("_dmarc.example.co.uk", "v=DMARC1; p=reject; sp=none")
	srv.SetTXT("_dmarc.sub.example.test", "v=DMARC1; p=none")
	srv.SetTXT("_dmarc.pct.test", "v=DMARC1; p=reject; pct=20")
	srv.SetTXT("_dmarc.case.test", "v=DMARC1; p=Reject; ADKIM=S")
	srv.SetTXT("_dmarc.bad.test", "v=DMARC1; p=drop")
	srv.SetTXT("_dmarc.two.test", "v=DMARC1; p=reject", "v=DMARC1; p=none")
	srv.SetTXT("_dmarc.other.test", "v=spf1 -all", "v=DMARC1; p=quarantine")
	srv.SetServFail("_dmarc.broken.test")
	none := mailauth.SPFResult{Status: mailauth.StatusNone, Identity: mailauth.IdentityMailFrom, Domain: "elsewhere.test"}
	cases := []struct {
		name   string
		from   string
		spf    mailauth.SPFResult
		dkim   []mailauth.DKIMResult
		sample int
		want   mailauth.DMARCResult
	}{
		{"aligned SPF pass", "example.test", spfPass("bounces.example.test"), nil, 0, mailauth.DMARCResult{
			Status: mailauth.StatusPass, PolicyDomain: "example.test", Policy: mailauth.PolicyReject, Disposition: mailauth.PolicyNone, SPFAligned: true}},
		{"DKIM-only alignment", "example.test", spfPass("mailer.test"), dkimRes(mailauth.StatusPass, "example.test"), 0, mailauth.DMARCResult{
			Status: mailauth.StatusPass, PolicyDomain: "example.test", Policy: mailauth.PolicyReject, Disposition: mailauth.PolicyNone, DKIMAligned: true}},
		{"misaligned", "example.test", spfPass("mailer.test"), dkimRes(mailauth.StatusPass, "mailer.test"), 0, mailauth.DMARCResult{
			Status: mailauth.StatusFail, PolicyDomain: "example.test", Policy: mailauth.PolicyReject, Disposition: mailauth.PolicyReject}},
		{"aligned but failing", "example.test", mailauth.SPFResult{Status: mailauth.StatusFail, Domain: "example.test"}, dkimRes(mailauth.StatusFail, "example.test"), 0, mailauth.DMARCResult{
			Status: mailauth.StatusFail, PolicyDomain: "example.test", Policy: mailauth.PolicyReject, Disposition: mailauth.PolicyReject}},
		{"subdomain sp=", "news.example.test", none, nil, 0, mailauth.DMARCResult{
			Status: mailauth.StatusFail, PolicyDomain: "example.test", Policy: mailauth.PolicyQuarantine, Disposition: mailauth.PolicyQuarantine}},
		{"subdomain with own record", "sub.example.test", none, nil, 0, mailauth.DMARCResult{
			Status: mailauth.StatusFail, PolicyDomain: "sub.example.test", Policy: mailauth.PolicyNone, Disposition: mailauth.PolicyNone}},
		{"org-domain fallback co.uk", "mail.example.co.uk", spfPass("example.co.uk"), nil, 0, mailauth.DMARCResult{
			Status: mailauth.StatusPass, PolicyDomain: "example.co.uk", Policy: mailauth.PolicyNone, Disposition: mailauth.PolicyNone, SPFAligned: true}},
		{"strict SPF misaligned", "strict.test", spfPass("mail.strict.test"), dkimRes(mailauth.StatusPass, "mail.strict.test"), 0, mailauth.DMARCResult{
			Status: mailauth.StatusFail, PolicyDomain: "strict.test", Policy: mailauth.PolicyQuarantine, Disposition: mailauth.PolicyQuarantine}},
		{"strict aligned", "strict.test", spfPass("strict.test"), nil, 0, mailauth.DMARCResult{
			Status: mailauth.StatusPass, PolicyDomain: "strict.test", Policy: mailauth.PolicyQuarantine, Disposition: mailauth.PolicyNone, SPFAligned: true}},
		{"pct sampled in", "pct.test", none, nil, 10, mailauth.DMARCResult{
			Status: mailauth.StatusFail, PolicyDomain: "pct.test", Policy: mailauth.PolicyReject, Disposition: mailauth.PolicyReject, Percent: 20}},
		{"pct sampled out", "pct.test", none, nil, 50, mailauth.DMARCResult{
			Status: mailauth.StatusFail, PolicyDomain: "pct.test", Policy: mailauth.PolicyReject, Disposition: mailauth.PolicyQuarantine, Percent: 20}},
		{"case-insensitive keywords", "case.test", none, dkimRes(mailauth.StatusPass, "mail.case.test"), 0, mailauth.DMARCResult{
			Status: mailauth.StatusFail, PolicyDomain: "case.test", Policy: mailauth.PolicyReject, Disposition: mailauth.PolicyReject}},
		{"no record", "nodmarc.test", spfPass("nodmarc.test"), nil, 0, mailauth.DMARCResult{Status: mailauth.StatusNone}},
		{"two records", "two.test", none, nil, 0, mailauth.DMARCResult{Status: mailauth.StatusNone}},
		{"non-DMARC TXT ignored", "other.test", none, nil, 0, mailauth.DMARCResult{
			Status: mailauth.StatusFail, PolicyDomain: "other.test", Policy: mailauth.PolicyQuarantine, Disposition: mailauth.PolicyQuarantine}},
		{"invalid record", "bad.test", none, nil, 0, mailauth.DMARCResult{Status: mailauth.StatusPermError}},
		{"servfail", "broken.test", spfPass("broken.test"), nil, 0, mailauth.DMARCResult{Status: mailauth.StatusTempError}},
		{"aligned temperror, no pass", "example.test", mailauth.SPFResult{Status: mailauth.StatusTempError, Domain: "example.test"}, dkimRes(mailauth.StatusFail, "example.test"), 0, mailauth.DMARCResult{
			Status: mailauth.StatusTempError, PolicyDomain: "example.test", Policy: mailauth.PolicyReject, Disposition: mailauth.PolicyNone}},
		{"DKIM temperror, SPF aligned pass", "example.test", spfPass("example.test"), dkimRes(mailauth.StatusTempError, "example.test"), 0, mailauth.DMARCResult{
			Status: mailauth.StatusPass, PolicyDomain: "example.test", Policy: mailauth.PolicyReject, Disposition: mailauth.PolicyNone, SPFAligned: true}},
		{"misaligned temperror is still fail", "example.test", mailauth.SPFResult{Status: mailauth.StatusTempError, Domain: "other.test"}, nil, 0, mailauth.DMARCResult{
			Status: mailauth.StatusFail, PolicyDomain: "example.test", Policy: mailauth.PolicyReject, Disposition: mailauth.PolicyReject}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := mailauth.EvaluateDMARC(testCtx(t), mailauth.DMARCParams{
				Resolver: r, FromDomain: c.from, SPF: c.spf, DKIM: c.dkim, Sample: fixedSample(c.sample),
			})
			w := c.want
			w.FromDomain = c.from
			if w.Percent == 0 {
				w.Percent = 100
			}
			if got.Status != w.Status || got.FromDomain != w.FromDomain || got.PolicyDomain != w.PolicyDomain ||
				got.Policy != w.Policy || got.Disposition != w.Disposition || got.Percent != w.Percent ||
				got.SPFAligned != w.SPFAligned || got.DKIMAligned != w.DKIMAligned {
				t.Fatalf("got  %+v\nwant %+v", got, w)
			}
			if got.Status != mailauth.StatusPass && got.Reason == "" {
				t.Fatalf("no reason: %+v", got)
			}
		})
	}
}
