package mailauth_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"mailgrid/internal/mail"
	"mailgrid/internal/mailauth"
	"mailgrid/internal/testkit/dnsserver"
)

const ourHost = "mx.receiver.test"

// inbound is a message as it arrives, with Authentication-Results fields added upstream:
// two claim our authserv-id (forged), one is another host's.
const inbound = "Authentication-Results: mx.receiver.test; dkim=pass header.d=bank.test\r\n" +
	"Authentication-Results: mx.upstream.test; spf=pass smtp.mailfrom=example.test\r\n" +
	"Authentication-Results: (forged) MX.Receiver.Test.\r\n" +
	"\t1; spf=pass smtp.mailfrom=bank.test\r\n" +
	testMessage

// world publishes example.test's SPF, DKIM key and DMARC policy and returns the DNS and
// a key to sign with.
func world(t *testing.T) (*dnsserver.Server, mailauth.DKIMKey) {
	t.Helper()
	srv := dnsserver.Start(t)
	ed, _ := keys()
	k := publish(t, srv, "example.test", "sel", ed)
	srv.SetTXT("example.test", "v=spf1 ip4:192.0.2.0/24 -all")
	srv.SetTXT("_dmarc.example.test", "v=DMARC1; p=reject")
	srv.SetTXT("bank.test", "v=spf1 -all")
	srv.SetTXT("_dmarc.bank.test", "v=DMARC1; p=reject")
	return srv, k
}

func params(srv *dnsserver.Server, from, msg string) mailauth.Params {
	p := mailauth.Params{
		Resolver: dnsResolver(srv), Now: func() time.Time { return time.Unix(1700000000, 0) },
		AuthServID: ourHost, ClientIP: ip(clientIP), HELO: "mx.example.test",
		Body: newBody(msg), Sample: fixedSample(0),
	}
	if from != "" {
		p.MailFrom = mail.MustParse(from)
	}
	return p
}

// parseAR parses the composed field back with go-msgauth's authres parser.
func parseAR(t *testing.T, field string) (string, []authres.Result) {
	t.Helper()
	name, value, ok := strings.Cut(field, ":")
	if !ok || name != "Authentication-Results" || !strings.HasSuffix(value, "\r\n") {
		t.Fatalf("field %q", field)
	}
	for _, line := range strings.Split(strings.TrimSuffix(field, "\r\n"), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line too long: %q", line)
		}
	}
	id, results, err := authres.Parse(strings.NewReplacer("\r\n", "").Replace(value))
	if err != nil {
		t.Fatalf("authres.Parse(%q): %v", value, err)
	}
	return id, results
}

// TestCheckPass: a signed message from an authorised IP passes SPF, DKIM and DMARC; the
// Authentication-Results field parses back; forged fields claiming our authserv-id are
// marked for stripping and the stripped message still verifies.
func TestCheckPass(t *testing.T) {
	srv, k := world(t)
	msg := sign(t, inbound, k)
	res, err := mailauth.Check(testCtx(t), params(srv, "bounce@example.test", msg))
	if err != nil {
		t.Fatal(err)
	}
	if res.SPF.Status != mailauth.StatusPass || len(res.DKIM) != 1 || res.DKIM[0].Status != mailauth.StatusPass ||
		res.DMARC.Status != mailauth.StatusPass || !res.DMARC.SPFAligned || !res.DMARC.DKIMAligned {
		t.Fatalf("%+v", res)
	}
	if res.HELO.Status != mailauth.StatusNone { // mx.example.test publishes nothing
		t.Fatalf("helo %+v", res.HELO)
	}
	id, results := parseAR(t, res.Header)
	if id != ourHost || len(results) != 3 {
		t.Fatalf("%q %#v", id, results)
	}
	spf, ok1 := results[0].(*authres.SPFResult)
	dk, ok2 := results[1].(*authres.DKIMResult)
	dm, ok3 := results[2].(*authres.DMARCResult)
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("%#v", results)
	}
	if spf.Value != authres.ResultPass || spf.From != "bounce@example.test" ||
		dk.Value != authres.ResultPass || dk.Domain != "example.test" || dk.Identifier != "@example.test" ||
		dm.Value != authres.ResultPass || dm.From != "example.test" {
		t.Fatalf("spf %+v dkim %+v dmarc %+v", spf, dk, dm)
	}
	if !strings.Contains(res.Header, "header.s=sel") || !strings.Contains(res.Header, "header.b="+res.DKIM[0].HeaderB) {
		t.Fatalf("dkim properties missing: %s", res.Header)
	}

	// RFC 8601 5: the two fields claiming mx.receiver.test go, the upstream one stays.
	if len(res.Strip) != 2 {
		t.Fatalf("strip %+v", res.Strip)
	}
	stripped, err := io.ReadAll(io.NewSectionReader(mailauth.StripFields(newBody(msg), res.Strip), 0, int64(len(msg))))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(msg, inbound[:strings.Index(inbound, "From:")], "Authentication-Results: mx.upstream.test; spf=pass smtp.mailfrom=example.test\r\n", 1)
	if string(stripped) != want {
		t.Fatalf("stripped:\n%s\nwant:\n%s", stripped, want)
	}
	delivered := res.Header + string(stripped)
	if v := verify(t, srv, delivered); v[0].Status != mailauth.StatusPass {
		t.Fatalf("delivered message no longer verifies: %+v", v)
	}
}

// TestCheckSpoof: mail claiming From bank.test (p=reject) from an unauthorised host,
// unsigned: SPF fail, dkim=none, DMARC fail with disposition reject.
func TestCheckSpoof(t *testing.T) {
	srv, _ := world(t)
	msg := strings.Replace(testMessage, "alice@example.test", "security@bank.test", 1)
	res, err := mailauth.Check(testCtx(t), params(srv, "security@bank.test", msg))
	if err != nil {
		t.Fatal(err)
	}
	if res.SPF.Status != mailauth.StatusFail || res.SPF.Explanation == "" || len(res.DKIM) != 0 ||
		res.DMARC.Status != mailauth.StatusFail || res.DMARC.Disposition != mailauth.PolicyReject {
		t.Fatalf("%+v", res)
	}
	_, results := parseAR(t, res.Header)
	if len(results) != 3 || results[1].(*authres.DKIMResult).Value != authres.ResultNone ||
		results[2].(*authres.DMARCResult).Value != authres.ResultFail || results[0].(*authres.SPFResult).Value != authres.ResultFail {
		t.Fatalf("%s", res.Header)
	}
	if !strings.Contains(res.Header, `reason="p=reject dis=reject"`) {
		t.Fatalf("dmarc reason: %s", res.Header)
	}
	// Signed by the sender's own domain, not the From domain: still no aligned pass.
	ed, _ := keys()
	srv2 := dnsserver.Start(t)
	k := publish(t, srv2, "example.test", "sel", ed)
	srv2.SetTXT("_dmarc.bank.test", "v=DMARC1; p=quarantine")
	res, err = mailauth.Check(testCtx(t), params(srv2, "x@example.test", sign(t, msg, k)))
	if err != nil {
		t.Fatal(err)
	}
	if res.DKIM[0].Status != mailauth.StatusPass || res.DMARC.Status != mailauth.StatusFail || res.DMARC.Disposition != mailauth.PolicyQuarantine {
		t.Fatalf("%+v", res)
	}
}

// TestCheckTempErrors: with every lookup of the sender's domain failing, every method
// reports temperror and DMARC gives no verdict.
func TestCheckTempErrors(t *testing.T) {
	srv, k := world(t)
	msg := sign(t, testMessage, k)
	for _, n := range []string{"example.test", "sel._domainkey.example.test", "_dmarc.example.test", "mx.example.test"} {
		srv.SetServFail(n)
	}
	res, err := mailauth.Check(testCtx(t), params(srv, "bounce@example.test", msg))
	if err != nil {
		t.Fatal(err)
	}
	if res.SPF.Status != mailauth.StatusTempError || res.HELO.Status != mailauth.StatusTempError ||
		res.DKIM[0].Status != mailauth.StatusTempError || res.DMARC.Status != mailauth.StatusTempError {
		t.Fatalf("%+v", res)
	}
	// The DMARC record answers again, key and SPF still failing: no aligned pass, but no
	// permanent fail either.
	srv.Reset("_dmarc.example.test")
	srv.SetTXT("_dmarc.example.test", "v=DMARC1; p=reject")
	res, err = mailauth.Check(testCtx(t), params(srv, "bounce@example.test", msg))
	if err != nil {
		t.Fatal(err)
	}
	if res.DMARC.Status != mailauth.StatusTempError || res.DMARC.Disposition != mailauth.PolicyNone {
		t.Fatalf("%+v", res.DMARC)
	}
	if _, results := parseAR(t, res.Header); len(results) != 3 {
		t.Fatalf("%s", res.Header)
	}
}

// TestCheckNullSender: a bounce (MAIL FROM:<>) is judged on the HELO identity and the
// header names smtp.helo (RFC 7208 2.4, RFC 8601 2.7.2).
func TestCheckNullSender(t *testing.T) {
	srv, k := world(t)
	srv.SetTXT("mx.example.test", "v=spf1 ip4:192.0.2.10 -all")
	res, err := mailauth.Check(testCtx(t), params(srv, "", sign(t, testMessage, k)))
	if err != nil {
		t.Fatal(err)
	}
	if res.SPF.Status != mailauth.StatusPass || res.SPF.Identity != mailauth.IdentityHELO || res.DMARC.Status != mailauth.StatusPass || !res.DMARC.SPFAligned {
		t.Fatalf("%+v", res)
	}
	_, results := parseAR(t, res.Header)
	if s := results[0].(*authres.SPFResult); s.Helo != "mx.example.test" || s.From != "" {
		t.Fatalf("%+v", s)
	}
}

// TestCheckFromField: DMARC needs exactly one author domain (RFC 7489 6.6.1).
func TestCheckFromField(t *testing.T) {
	srv, _ := world(t)
	cases := map[string]mailauth.Status{
		"From: a@example.test\r\nFrom: b@example.test\r\n\r\nx\r\n":                     mailauth.StatusPermError,
		"Subject: no author\r\n\r\nx\r\n":                                               mailauth.StatusPermError,
		"From: a@example.test, b@bank.test\r\n\r\nx\r\n":                                mailauth.StatusPermError,
		"From: a@example.test, \"B\" <b@EXAMPLE.test>\r\n\r\nx\r\n":                     mailauth.StatusPass,
		"From: =?koi8-r?B?8NLJ18XU?= <a@example.test>\r\n\r\nx\r\n":                     mailauth.StatusPass,
		"from:\r\n  Alice\r\n  <a@example.test>\r\n\r\nx\r\n":                           mailauth.StatusPass,
		"From: Broken <<a@example.test>\r\n\r\nx\r\n":                                   mailauth.StatusPass,
		"From: undisclosed-recipients:;\r\n\r\nx\r\n":                                   mailauth.StatusPermError,
		"From: a@bank.test\r\n\r\nx\r\n":                                                mailauth.StatusFail,
		"From: =?utf-8?q?Bank?= <a@bank.test>\r\nReply-To: a@example.test\r\n\r\nx\r\n": mailauth.StatusFail,
	}
	for msg, want := range cases {
		res, err := mailauth.Check(testCtx(t), params(srv, "bounce@example.test", msg))
		if err != nil {
			t.Fatal(err)
		}
		if res.DMARC.Status != want {
			t.Errorf("%q: %+v", msg, res.DMARC)
		}
	}
}

func TestCheckErrors(t *testing.T) {
	srv, _ := world(t)
	p := params(srv, "a@example.test", testMessage)
	p.AuthServID = ""
	if _, err := mailauth.Check(testCtx(t), p); err == nil {
		t.Fatal("no authserv-id accepted")
	}
	p = params(srv, "a@example.test", testMessage)
	p.Body = readerAtSize{failingReader{[]byte(testMessage), 10}, int64(len(testMessage))}
	if _, err := mailauth.Check(testCtx(t), p); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("read error: %v", err)
	}
}

type readerAtSize struct {
	io.ReaderAt
	size int64
}

func (r readerAtSize) Size() int64 { return r.size }

func TestClaimsAuthServID(t *testing.T) {
	cases := map[string]bool{
		"mx.receiver.test; spf=pass":                                true,
		"MX.RECEIVER.TEST; none":                                    true,
		"mx.receiver.test.; none":                                   true,
		" (c (nested \\) c)) mx.receiver.test 1; none":              true,
		"\r\n\tmx.receiver.test;\r\n\tdkim=pass":                    true,
		`"mx.receiver.test"; none`:                                  true,
		"mx.receiver.test":                                          true,
		"mx.receiver.test.evil.test; spf=pass":                      false,
		"evil.mx.receiver.test; spf=pass":                           false,
		"mx.upstream.test; spf=pass smtp.mailfrom=mx.receiver.test": false,
		"(mx.receiver.test) other.test; none":                       false,
		"(unterminated mx.receiver.test; none":                      false,
		"; spf=pass":                                                false,
		"":                                                          false,
	}
	for v, want := range cases {
		if got := mailauth.ClaimsAuthServID(v, ourHost); got != want {
			t.Errorf("ClaimsAuthServID(%q) = %v", v, got)
		}
	}
}

// TestComposeAuthResults: hostile values never reach the header raw, reasons survive
// go-msgauth's parser, and no results at all is "dkim=none".
func TestComposeAuthResults(t *testing.T) {
	spf := mailauth.SPFResult{Status: mailauth.StatusPermError, Identity: mailauth.IdentityMailFrom,
		Domain: "example.test", Sender: `"x;y"@example.test`, Reason: "bad; record\r\n\"quoted\""}
	dk := []mailauth.DKIMResult{{Status: mailauth.StatusFail, Domain: "example.test;spf=pass", Selector: "s", Reason: "body hash did not verify"}}
	h := mailauth.ComposeAuthResults(ourHost, &spf, dk, nil)
	if strings.Count(h, "\r\n") != 3 || strings.Contains(h, "x;y") || strings.Contains(h, "spf=pass") {
		t.Fatalf("%q", h)
	}
	_, results := parseAR(t, h)
	if len(results) != 2 || results[0].(*authres.SPFResult).From != "example.test" || results[1].(*authres.DKIMResult).Domain != "" {
		t.Fatalf("%q %#v", h, results)
	}
	if h := mailauth.ComposeAuthResults(ourHost, nil, nil, nil); h != "Authentication-Results: mx.receiver.test;\r\n\tdkim=none\r\n" {
		t.Fatalf("%q", h)
	}
}

// TestStripFields reads the view through iotest.TestReader (every offset and size).
func TestStripFields(t *testing.T) {
	src := "0123456789abcdefghij"
	cases := []struct {
		spans []mailauth.Span
		want  string
	}{
		{nil, src},
		{[]mailauth.Span{{0, 3}}, src[3:]},
		{[]mailauth.Span{{15, 20}, {2, 4}}, src[:2] + src[4:15]},
		{[]mailauth.Span{{2, 4}, {3, 6}, {8, 8}, {18, 25}}, src[:2] + src[4:]}, // overlap, empty, outside
		{[]mailauth.Span{{0, 20}}, ""},
	}
	for _, c := range cases {
		v := mailauth.StripFields(newBody(src), c.spans)
		if v.Size() != int64(len(c.want)) {
			t.Fatalf("%v: size %d", c.spans, v.Size())
		}
		if err := iotest.TestReader(io.NewSectionReader(v, 0, v.Size()), []byte(c.want)); err != nil {
			t.Fatalf("%v: %v", c.spans, err)
		}
		buf := make([]byte, 4)
		if n, err := v.ReadAt(buf, v.Size()); n != 0 || err != io.EOF {
			t.Fatalf("read at end: %d %v", n, err)
		}
		if len(c.want) > 2 {
			n, err := v.ReadAt(buf, v.Size()-2)
			if n != 2 || err != io.EOF || !bytes.Equal(buf[:2], []byte(c.want[len(c.want)-2:])) {
				t.Fatalf("short read at end: %d %v", n, err)
			}
		}
	}
}
