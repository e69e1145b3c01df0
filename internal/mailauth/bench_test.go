package mailauth_test

import (
	"strings"
	"testing"
	"time"

	"mailgrid/internal/mail"
	"mailgrid/internal/mailauth"
)

// benchMessage is a 100 KiB message, a typical size with a small attachment.
var benchMessage = testMessage + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 1600)

func BenchmarkSignDKIM(b *testing.B) {
	ed, rs := keys()
	for _, c := range []struct {
		name string
		key  mailauth.DKIMKey
	}{{"ed25519", mailauth.DKIMKey{Domain: "example.test", Selector: "ed", Signer: ed}},
		{"rsa2048", mailauth.DKIMKey{Domain: "example.test", Selector: "rsa", Signer: rs}}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(benchMessage)))
			for b.Loop() {
				if _, err := mailauth.SignDKIM(strings.NewReader(benchMessage), c.key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheck is the whole inbound check of a 100 KiB message signed with Ed25519 and
// RSA, every lookup answered by the loopback DNS server (no cache).
func BenchmarkCheck(b *testing.B) {
	srv, r := newDNS(b)
	ed, rs := keys()
	sig, err := mailauth.SignDKIM(strings.NewReader(benchMessage), publish(b, srv, "example.test", "ed", ed), publish(b, srv, "example.test", "rsa", rs))
	if err != nil {
		b.Fatal(err)
	}
	msg := sig + benchMessage
	srv.SetTXT("example.test", "v=spf1 ip4:192.0.2.0/24 -all")
	srv.SetTXT("_dmarc.example.test", "v=DMARC1; p=reject")
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		res, err := mailauth.Check(b.Context(), mailauth.Params{
			Resolver: r, AuthServID: ourHost, ClientIP: ip(clientIP), HELO: "mx.example.test",
			MailFrom: mail.MustParse("a@example.test"), Body: newBody(msg), Now: time.Now,
		})
		if err != nil || res.DMARC.Status != mailauth.StatusPass || res.DKIM[1].Status != mailauth.StatusPass {
			b.Fatalf("%+v %v", res, err)
		}
	}
}
