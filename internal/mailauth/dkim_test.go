package mailauth_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/mailauth"
	"mailgrid/internal/testkit/dnsserver"
)

const testMessage = "From: Alice <alice@example.test>\r\n" +
	"To: Bob <bob@receiver.test>\r\n" +
	"Subject: Lunch\r\n" +
	" on Friday?\r\n" +
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n" +
	"Message-ID: <1@example.test>\r\n" +
	"Received: from somewhere by example.test\r\n" +
	"\r\n" +
	"Shall we meet at noon?\r\n" +
	"\r\n" +
	"-- \r\nAlice\r\n"

// keys are generated once: RSA-2048 generation is the slow part of these tests.
var keys = sync.OnceValues(func() (ed crypto.Signer, rs crypto.Signer) {
	ed, err := mailauth.GenerateDKIMKey(mailauth.DKIMEd25519)
	if err != nil {
		panic(err)
	}
	rs, err = mailauth.GenerateDKIMKey(mailauth.DKIMRSA)
	if err != nil {
		panic(err)
	}
	return ed, rs
})

// publish puts the key's TXT record on the test DNS and returns the signing key.
func publish(t testing.TB, srv *dnsserver.Server, domain, selector string, signer crypto.Signer) mailauth.DKIMKey {
	t.Helper()
	rec, err := mailauth.DKIMRecord(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	srv.SetTXT(mailauth.DKIMRecordName(selector, domain), rec)
	return mailauth.DKIMKey{Domain: domain, Selector: selector, Signer: signer}
}

// sign returns msg with the DKIM-Signature fields SignDKIM produced prepended, as our
// outbound path does.
func sign(t *testing.T, msg string, keys ...mailauth.DKIMKey) string {
	t.Helper()
	sig, err := mailauth.SignDKIM(strings.NewReader(msg), keys...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sig, "DKIM-Signature: ") || !strings.HasSuffix(sig, "\r\n") {
		t.Fatalf("signature field %q", sig)
	}
	return sig + msg
}

func verify(t *testing.T, srv *dnsserver.Server, msg string) []mailauth.DKIMResult {
	t.Helper()
	r := dnsResolver(srv)
	res, err := mailauth.VerifyDKIM(testCtx(t), r, strings.NewReader(msg), int64(len(msg)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestDKIMRecords(t *testing.T) {
	ed, rs := keys()
	rec, err := mailauth.DKIMRecord(ed.Public())
	if err != nil || !strings.HasPrefix(rec, "v=DKIM1; k=ed25519; p=") || len(rec) != len("v=DKIM1; k=ed25519; p=")+44 {
		t.Fatalf("ed25519 record %q %v", rec, err)
	}
	rec, err = mailauth.DKIMRecord(rs.Public())
	if err != nil || !strings.HasPrefix(rec, "v=DKIM1; k=rsa; p=MIIBIjAN") { // SubjectPublicKeyInfo, 2048 bits
		t.Fatalf("rsa record %q %v", rec, err)
	}
	if n := mailauth.DKIMRecordName("sel1", "example.test"); n != "sel1._domainkey.example.test" {
		t.Fatal(n)
	}
	zone, err := mailauth.DKIMZoneRecord("sel1", "example.test", rs.Public())
	if err != nil || !strings.HasPrefix(zone, `sel1._domainkey.example.test. IN TXT ("v=DKIM1; k=rsa; p=MIIB`) ||
		strings.Count(zone, `"`) != 4 || strings.ReplaceAll(zone[strings.Index(zone, "(")+2:len(zone)-2], `" "`, "") != rec {
		t.Fatalf("zone record %q %v", zone, err)
	}
	for _, k := range []crypto.Signer{ed, rs} {
		pemBytes, err := mailauth.MarshalDKIMKey(k)
		if err != nil {
			t.Fatal(err)
		}
		back, err := mailauth.ParseDKIMKey(pemBytes)
		if err != nil {
			t.Fatal(err)
		}
		switch pub := k.Public().(type) {
		case ed25519.PublicKey:
			if !pub.Equal(back.Public()) {
				t.Fatal("ed25519 key changed in PEM round trip")
			}
		case *rsa.PublicKey:
			if !pub.Equal(back.Public()) {
				t.Fatal("rsa key changed in PEM round trip")
			}
		}
	}
	if _, err := mailauth.ParseDKIMKey([]byte("not pem")); err == nil {
		t.Fatal("garbage parsed as a key")
	}
}

// TestDKIMSignVerify signs with Ed25519 (RFC 8463) and RSA, publishes the records on the
// test DNS and verifies the message as a receiver would.
func TestDKIMSignVerify(t *testing.T) {
	ed, rs := keys()
	for _, c := range []struct {
		name string
		key  crypto.Signer
		algo string
	}{{"ed25519", ed, "ed25519-sha256"}, {"rsa", rs, "rsa-sha256"}} {
		t.Run(c.name, func(t *testing.T) {
			srv := dnsserver.Start(t)
			k := publish(t, srv, "example.test", "s"+c.name, c.key)
			signed := sign(t, testMessage, k)
			res := verify(t, srv, signed)
			if len(res) != 1 {
				t.Fatalf("results %+v", res)
			}
			want := mailauth.DKIMResult{Status: mailauth.StatusPass, Domain: "example.test", Selector: "s" + c.name,
				Identifier: "@example.test", Algorithm: c.algo, HeaderB: res[0].HeaderB}
			if res[0] != want || len(res[0].HeaderB) != 12 {
				t.Fatalf("got %+v\nwant %+v", res[0], want)
			}
		})
	}
}

// TestDKIMSignatureFields checks the signature's tags: relaxed/relaxed, the RFC 6376
// 5.4.1 fields present, singletons (From, Subject) oversigned, Received not signed.
func TestDKIMSignatureFields(t *testing.T) {
	ed, _ := keys()
	sig, err := mailauth.SignDKIM(strings.NewReader(testMessage), mailauth.DKIMKey{Domain: "example.test", Selector: "s", Signer: ed})
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(sig), "")
	for _, want := range []string{"c=relaxed/relaxed", "a=ed25519-sha256", "d=example.test", "s=s"} {
		if !strings.Contains(flat, want) {
			t.Errorf("signature lacks %s: %s", want, sig)
		}
	}
	i := strings.Index(flat, ";h=") + 1
	h := strings.ToLower(flat[i+2 : i+strings.IndexByte(flat[i:], ';')])
	if strings.Count(h, "from") != 2 || strings.Count(h, "subject") != 2 || strings.Contains(h, "received") {
		t.Fatalf("h=%s", h)
	}
	for _, line := range strings.Split(strings.TrimSuffix(sig, "\r\n"), "\r\n") {
		if len(line) > 998 { // RFC 5322 2.1.1; the library folds b= and bh=, not h=

			t.Errorf("unfolded line of %d octets: %q", len(line), line)
		}
	}
}

func TestDKIMFailures(t *testing.T) {
	ed, rs := keys()
	srv, _ := newDNS(t)
	k := publish(t, srv, "example.test", "sel", ed)
	signed := sign(t, testMessage, k)

	// Changed body: the body hash does not verify.
	if res := verify(t, srv, strings.Replace(signed, "noon", "one", 1)); res[0].Status != mailauth.StatusFail {
		t.Errorf("modified body: %+v", res[0])
	}
	// Changed signed header.
	if res := verify(t, srv, strings.Replace(signed, "Subject: Lunch", "Subject: Dinner", 1)); res[0].Status != mailauth.StatusFail {
		t.Errorf("modified subject: %+v", res[0])
	}
	// A second From added on top: From is oversigned, so this breaks the signature.
	if res := verify(t, srv, "From: mallory@evil.test\r\n"+signed); res[0].Status != mailauth.StatusFail {
		t.Errorf("added From: %+v", res[0])
	}
	// Relaxed canonicalization survives refolding and trailing white space.
	relaxed := strings.Replace(signed, "Subject: Lunch\r\n on Friday?", "Subject:   Lunch on   Friday?  ", 1)
	relaxed = strings.Replace(relaxed, "noon?\r\n", "noon?  \r\n", 1)
	if res := verify(t, srv, relaxed); res[0].Status != mailauth.StatusPass {
		t.Errorf("refolded: %+v", res[0])
	}
	// Missing key record: PERMFAIL "no key for signature" (RFC 6376 6.1.2).
	if res := verify(t, srv, strings.Replace(signed, "s=sel", "s=gone", 1)); res[0].Status != mailauth.StatusPermError || res[0].Selector != "gone" {
		t.Errorf("missing key: %+v", res[0])
	}
	// Key of the wrong type under the selector: permerror.
	publish(t, srv, "example.test", "other", rs)
	if res := verify(t, srv, strings.Replace(signed, "s=sel", "s=other", 1)); res[0].Status != mailauth.StatusPermError {
		t.Errorf("key of another algorithm: %+v", res[0])
	}
	// Revoked key (empty p=, RFC 6376 3.6.1).
	srv.SetTXT("revoked._domainkey.example.test", "v=DKIM1; k=ed25519; p=")
	if res := verify(t, srv, strings.Replace(signed, "s=sel", "s=revoked", 1)); res[0].Status != mailauth.StatusPermError {
		t.Errorf("revoked key: %+v", res[0])
	}
	// SERVFAIL on the key record: temperror, not a verdict.
	srv.SetServFail("broken._domainkey.example.test")
	if res := verify(t, srv, strings.Replace(signed, "s=sel", "s=broken", 1)); res[0].Status != mailauth.StatusTempError {
		t.Errorf("servfail: %+v", res[0])
	}
	// l= (body length) lets anyone append to the body: not accepted, reported as policy.
	if res := verify(t, srv, strings.Replace(signed, "DKIM-Signature: ", "DKIM-Signature: l=5; ", 1)); res[0].Status != mailauth.StatusPolicy {
		t.Errorf("l=: %+v", res[0])
	}
	// Unsigned mail: no results.
	if res := verify(t, srv, testMessage); len(res) != 0 {
		t.Errorf("unsigned: %+v", res)
	}
}

// TestDKIMTwoInstances: a message signed by one instance (its own key and domain) and
// then by a second one (a relay with another key and domain) verifies for both, in
// header order; one SignDKIM call can also sign with two keys at once.
func TestDKIMTwoInstances(t *testing.T) {
	ed, rs := keys()
	srv, _ := newDNS(t)
	first := publish(t, srv, "example.test", "ed", ed)
	second := publish(t, srv, "relay.test", "rsa", rs)
	signed := sign(t, sign(t, testMessage, first), second)
	res := verify(t, srv, signed)
	if len(res) != 2 || res[0].Domain != "relay.test" || res[1].Domain != "example.test" ||
		res[0].Status != mailauth.StatusPass || res[1].Status != mailauth.StatusPass {
		t.Fatalf("%+v", res)
	}
	dual := sign(t, testMessage, publish(t, srv, "example.test", "ed2", ed), publish(t, srv, "example.test", "rsa2", rs))
	res = verify(t, srv, dual)
	if len(res) != 2 || res[0].Selector != "ed2" || res[1].Selector != "rsa2" ||
		res[0].Status != mailauth.StatusPass || res[1].Status != mailauth.StatusPass {
		t.Fatalf("dual: %+v", res)
	}
}

// TestDKIMHeaderOnly: a message without a body (no empty line) signs and verifies.
func TestDKIMHeaderOnly(t *testing.T) {
	ed, _ := keys()
	srv, _ := newDNS(t)
	k := publish(t, srv, "example.test", "sel", ed)
	for _, msg := range []string{"From: a@example.test\r\nSubject: x\r\n", "From: a@example.test\r\nSubject: x"} {
		if res := verify(t, srv, sign(t, msg, k)); len(res) != 1 || res[0].Status != mailauth.StatusPass {
			t.Errorf("%q: %+v", msg, res)
		}
	}
}

// TestDKIMStreamsLargeBody signs and verifies a body larger than any buffer.
func TestDKIMStreamsLargeBody(t *testing.T) {
	ed, _ := keys()
	srv, _ := newDNS(t)
	k := publish(t, srv, "example.test", "sel", ed)
	big := testMessage + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 64<<10)
	if res := verify(t, srv, sign(t, big, k)); len(res) != 1 || res[0].Status != mailauth.StatusPass {
		t.Fatalf("%+v", res)
	}
}

// failingReader fails reading past at, as a broken disk would.
type failingReader struct {
	data []byte
	at   int64
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.at {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, f.data[off:min(int64(len(f.data)), f.at)])
	if n < len(p) {
		return n, errors.New("disk on fire")
	}
	return n, nil
}

// TestDKIMReadError: a read error is an error, not a verdict, and leaves no goroutine
// blocked (TestMain checks) even with several signatures verified in parallel.
func TestDKIMReadError(t *testing.T) {
	ed, rs := keys()
	srv, _ := newDNS(t)
	signed := sign(t, testMessage+strings.Repeat("x", 100000), publish(t, srv, "example.test", "a", ed), publish(t, srv, "example.test", "b", rs))
	bodyAt := int64(strings.Index(signed, "\r\n\r\n") + 4)
	_, err := mailauth.VerifyDKIM(testCtx(t), dnsResolver(srv), failingReader{[]byte(signed), bodyAt + 50000}, int64(len(signed)), time.Now())
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err %v", err)
	}
	if _, err := mailauth.SignDKIM(io.MultiReader(strings.NewReader(testMessage), errReader{}), mailauth.DKIMKey{Domain: "example.test", Selector: "a", Signer: ed}); err == nil {
		t.Fatal("sign: read error not reported")
	}
	if _, err := mailauth.SignDKIM(bytes.NewReader(nil)); err == nil {
		t.Fatal("sign without keys")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("broken pipe") }

// rfc8463Example is the message of RFC 8463 Appendix A.3, signed by the RFC's authors with
// Ed25519 and RSA: verifying it checks us against an independent signer.
const rfc8463Example = "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n" +
	" d=football.example.com; i=@football.example.com;\r\n" +
	" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n" +
	" subject : date : message-id : from : subject : date;\r\n" +
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n" +
	" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n" +
	" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n" +
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n" +
	" d=football.example.com; i=@football.example.com;\r\n" +
	" q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n" +
	" date : message-id : from : subject : date;\r\n" +
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n" +
	" b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n" +
	" DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n" +
	" dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n" +
	"From: Joe SixPack <joe@football.example.com>\r\n" +
	"To: Suzie Q <suzie@shopping.example.net>\r\n" +
	"Subject: Is dinner ready?\r\n" +
	"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n" +
	"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n" +
	"\r\n" +
	"Hi.\r\n" +
	"\r\n" +
	"We lost the game.  Are you hungry yet?\r\n" +
	"\r\n" +
	"Joe.\r\n"

func TestDKIMRFC8463Example(t *testing.T) {
	srv, _ := newDNS(t)
	srv.SetTXT("brisbane._domainkey.football.example.com", "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
	srv.SetTXT("test._domainkey.football.example.com", "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"+
		"iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"+
		"DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3"+
		"Ip3G+2kryOTIKT+l/K4w3QIDAQAB")
	res := verify(t, srv, rfc8463Example)
	if len(res) != 2 {
		t.Fatalf("%+v", res)
	}
	for i, sel := range []string{"brisbane", "test"} {
		if res[i].Status != mailauth.StatusPass || res[i].Selector != sel || res[i].Domain != "football.example.com" {
			t.Errorf("signature %d: %+v", i, res[i])
		}
	}
	// One changed header byte breaks both.
	for i, r := range verify(t, srv, strings.Replace(rfc8463Example, "dinner", "Dinner", 1)) {
		if r.Status != mailauth.StatusFail {
			t.Errorf("tampered signature %d: %+v", i, r)
		}
	}
}
