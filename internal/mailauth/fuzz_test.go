package mailauth

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode"

	"mailgrid/internal/dns"
	"mailgrid/internal/testkit/dnsserver"
)

// The fuzz targets cover the parsing this package does itself: the header scan, DKIM
// tag-lists, the authserv-id of Authentication-Results, SPF explanation macros, the From
// domain, and the glue between our header scan and go-msgauth's verifier. Seeds are
// below and in testdata/fuzz.

const seedMessage = "DKIM-Signature: v=1; a=ed25519-sha256; d=example.test; s=sel;\r\n" +
	"\th=From:Subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n" +
	"Authentication-Results: mx.test; spf=pass\r\n" +
	"From: a@example.test\r\nSubject: x\r\n\r\nbody\r\n"

func FuzzScanHeader(f *testing.F) {
	for _, s := range []string{seedMessage, "", "\r\n", "From: a\n\nb", " cont\r\nFrom: x", "From: a\r\n b\r\n c", "no colon\r\n\r\n", "From: a"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, err := scanHeader(bytes.NewReader(msg), int64(len(msg)), fieldFrom, fieldDKIM, fieldAuthResults)
		if err != nil {
			t.Fatal(err)
		}
		if h.bodyStart < 0 || h.bodyStart > int64(len(msg)) {
			t.Fatalf("body start %d of %d", h.bodyStart, len(msg))
		}
		var prev int64
		var ars []Span
		for _, fl := range h.fields {
			s := fl.span
			if s.Start < prev || s.End <= s.Start || s.End > h.bodyStart {
				t.Fatalf("span %+v after %d, body at %d", s, prev, h.bodyStart)
			}
			if !bytes.HasPrefix(bytes.TrimLeftFunc(msg[s.Start:s.End], unicode.IsSpace), []byte(fl.name)) {
				t.Fatalf("span %+v does not start with %q", s, fl.name)
			}
			prev = s.End
			if strings.EqualFold(fl.name, fieldAuthResults) {
				ars = append(ars, s)
			}
		}
		// Stripping every Authentication-Results field leaves none behind.
		v := StripFields(bytes.NewReader(msg), ars)
		h2, err := scanHeader(v, v.Size(), fieldAuthResults)
		if err != nil {
			t.Fatal(err)
		}
		if len(ars) > 0 && h.terminated && len(h2.fields) != 0 {
			t.Fatalf("after stripping %v: %+v", ars, h2.fields)
		}
	})
}

func FuzzParseTags(f *testing.F) {
	for _, s := range []string{"v=1; a=rsa-sha256; d=example.net; s=brisbane;", "a=b;;c=d", "a=b; a=c", "=x", " b = x y\r\n z ;", "1a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := parseTags(s)
		if err != nil {
			return
		}
		for name, value := range tags {
			if !validTagName(name) || strings.Contains(value, ";") {
				t.Fatalf("%q: tag %q=%q", s, name, value)
			}
		}
	})
}

func FuzzAuthServID(f *testing.F) {
	for _, s := range []string{"mx.test; spf=pass", "(c) mx.test 1; none", `"quoted\"id"; none`, "(a (b) c", "\r\n\tx;", `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		id, ok := AuthServID(v)
		if !ok {
			return
		}
		if id == "" {
			t.Fatalf("%q: empty id", v)
		}
		if !ClaimsAuthServID(v, id) {
			t.Fatalf("%q: id %q does not claim itself", v, id)
		}
	})
}

func FuzzExpandMacros(f *testing.F) {
	for _, s := range []string{"%{i}._ip.%{d}", "%{ir}.%{v}.arpa", "%{l1r+-}.%{o}", "%{S}%%%_%-", "%{c} at %{t} by %{r}", "%{d200}", "%{", "%x", "%"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	env := macroEnv{sender: "a.b+c@example.test", domain: "example.test", ip: net.ParseIP("2001:db8::1"),
		helo: "mx.example.test", receiver: "mx.test", now: time.Unix(1, 0)}
	f.Fuzz(func(t *testing.T, s string, explain bool) {
		out, err := expandMacros(s, env, explain)
		if err != nil {
			return
		}
		if strings.ContainsAny(out, "\r\n") {
			t.Fatalf("%q expanded to %q", s, out)
		}
		again, err := expandMacros(s, env, explain)
		if err != nil || again != out {
			t.Fatalf("%q: not deterministic", s)
		}
	})
}

func FuzzFromDomains(f *testing.F) {
	for _, s := range []string{"a@example.test", `"A, B" <a@example.test>, c@d.test`, "=?x?q?y?= <a@b.test>", "<<a@b>", "g:;", "a@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, d := range fromDomains(v) {
			if d != strings.ToLower(d) {
				t.Fatalf("%q: domain %q not lower case", v, d)
			}
		}
	})
}

// FuzzVerifyDKIM runs arbitrary messages through our scan and go-msgauth's verifier, with
// a real DNS server answering one key: no panic, at most one result per signature and
// MaxDKIMSignatures in all, every result with a status. The test binary's TestMain
// (goleak) checks that no verifier goroutine is left behind.
func FuzzVerifyDKIM(f *testing.F) {
	srv := dnsserver.Start(f)
	// The RFC 8463 A.3 key, so the committed corpus entry rfc8463-a3 verifies.
	srv.SetTXT("brisbane._domainkey.football.example.com", "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
	r := dns.New([]string{srv.Addr()}, time.Second)
	f.Add([]byte(seedMessage))
	f.Add([]byte(strings.Repeat("DKIM-Signature: v=1; d=example.test; s=sel\r\n", 12) + "From: a\r\n\r\n"))
	f.Add([]byte("DKIM-Signature: x\r\nDKIM-Signature: v=1; l=1\r\nFrom: a"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := VerifyDKIM(ctx, r, bytes.NewReader(msg), int64(len(msg)), time.Now())
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if len(res) > MaxDKIMSignatures || bytes.Count(bytes.ToLower(msg), []byte("dkim-signature")) < len(res) {
			t.Fatalf("%d results", len(res))
		}
		for _, d := range res {
			if d.Status == "" {
				t.Fatalf("result without status: %+v", d)
			}
		}
	})
}
