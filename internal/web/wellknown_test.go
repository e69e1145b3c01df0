package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"

	"mailgrid/internal/admin"
	"mailgrid/internal/web"
)

var wellKnownOpts = web.WellKnownOptions{IMAPS: "0.0.0.0:993", IMAP: "0.0.0.0:143", POP3S: "[::]:995",
	Submissions: "0.0.0.0:465", Submission: "0.0.0.0:587"}

// get fetches path from h with the Host header host.
func get(t *testing.T, h *harness, method, host, path, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if body != "" {
		req.Header.Set("Content-Type", "text/xml")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestMTASTSPolicyServed: GET /.well-known/mta-sts.txt at mta-sts.DOMAIN answers the
// policy (RFC 8461 3.2) of a hosted domain as text/plain, in the configured mode with
// the node's host name as mx; the default mode is testing and its text hashes to the
// id of the _mta-sts TXT record `mailgrid dns records` prints; other names are 404.
func TestMTASTSPolicyServed(t *testing.T) {
	h := newHarness(t, func(o *web.Options) { o.WellKnown = wellKnownOpts })
	resp, body := get(t, h, "GET", "mta-sts.a.example", "/.well-known/mta-sts.txt", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want := "version: STSv1\r\nmode: testing\r\nmx: mx.test\r\nmax_age: 604800\r\n"
	if body != want {
		t.Fatalf("policy %q, want %q", body, want)
	}
	recs, err := admin.DNSRecords(context.Background(), "a.example", "mx.test", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	var txt string
	for _, r := range recs {
		if r.Name == "_mta-sts.a.example" {
			txt = r.Value
		}
	}
	if txt != "v=STSv1; id="+hex.EncodeToString(sum[:8]) {
		t.Errorf("TXT %q does not name the served policy", txt)
	}
	for _, host := range []string{"mta-sts.unknown.example", "a.example", "mta-sts.a.example.evil.example"} {
		if resp, _ := get(t, h, "GET", host, "/.well-known/mta-sts.txt", ""); resp.StatusCode != 404 {
			t.Errorf("Host %s: %d, want 404", host, resp.StatusCode)
		}
	}

	enf := newHarness(t, func(o *web.Options) { o.WellKnown = web.WellKnownOptions{MTASTSMode: "enforce"} })
	if resp, body := get(t, enf, "GET", "MTA-STS.B.Example:443", "/.well-known/mta-sts.txt", ""); resp.StatusCode != 200 ||
		body != admin.MTASTSPolicy("mx.test", "enforce") || !strings.Contains(body, "mode: enforce\r\n") {
		t.Errorf("enforce: %d %q", resp.StatusCode, body)
	}
}

type clientConfig struct {
	Provider struct {
		ID       string `xml:"id,attr"`
		Domain   string `xml:"domain"`
		Incoming []struct {
			Type     string `xml:"type,attr"`
			Hostname string `xml:"hostname"`
			Port     int    `xml:"port"`
			Socket   string `xml:"socketType"`
			Username string `xml:"username"`
		} `xml:"incomingServer"`
		Outgoing []struct {
			Type   string `xml:"type,attr"`
			Port   int    `xml:"port"`
			Socket string `xml:"socketType"`
		} `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

// TestAutoconfig: Thunderbird's config-v1.1.xml names the node's IMAP, POP3 and
// submission endpoints for a hosted domain, taken from ?emailaddress= or the Host
// (autoconfig.DOMAIN or DOMAIN); unknown domains are 404.
func TestAutoconfig(t *testing.T) {
	h := newHarness(t, func(o *web.Options) { o.WellKnown = wellKnownOpts })
	for _, c := range []struct{ host, path string }{
		{"mx.test", "/mail/config-v1.1.xml?emailaddress=u1%40a.example"},
		{"autoconfig.a.example", "/mail/config-v1.1.xml"},
		{"a.example", "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=u2@a.example"},
	} {
		resp, body := get(t, h, "GET", c.host, c.path, "")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") {
			t.Fatalf("%s%s: %d %q", c.host, c.path, resp.StatusCode, body)
		}
		var cc clientConfig
		if err := xml.Unmarshal([]byte(body), &cc); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		p := cc.Provider
		if p.ID != "a.example" || p.Domain != "a.example" || len(p.Incoming) != 3 || len(p.Outgoing) != 2 {
			t.Fatalf("%s%s: %s", c.host, c.path, body)
		}
		in := p.Incoming[0]
		if in.Type != "imap" || in.Hostname != "mx.test" || in.Port != 993 || in.Socket != "SSL" || in.Username != "%EMAILADDRESS%" {
			t.Errorf("first incoming server %+v", in)
		}
		if p.Incoming[2].Type != "pop3" || p.Incoming[2].Port != 995 {
			t.Errorf("pop3 %+v", p.Incoming[2])
		}
		if out := p.Outgoing; out[0].Port != 465 || out[0].Socket != "SSL" || out[1].Port != 587 || out[1].Socket != "STARTTLS" {
			t.Errorf("outgoing %+v", out)
		}
	}
	if resp, _ := get(t, h, "GET", "mx.test", "/mail/config-v1.1.xml?emailaddress=x@unknown.example", ""); resp.StatusCode != 404 {
		t.Errorf("unknown domain: %d", resp.StatusCode)
	}
	if resp, _ := get(t, h, "GET", "mx.test", "/mail/config-v1.1.xml?emailaddress=not-an-address", ""); resp.StatusCode != 400 {
		t.Errorf("bad address: %d", resp.StatusCode)
	}
}

const autodiscoverReq = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>%s</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`

// TestAutodiscover: Outlook's POX request for an address of a hosted domain gets the
// 2006a response with IMAP, POP3 and SMTP settings and the address as login name;
// another domain is 404, a body that is no request 400. Nobody needs to be signed in,
// and it is not refused as a cross-origin post (Outlook sends no Origin).
func TestAutodiscover(t *testing.T) {
	h := newHarness(t, func(o *web.Options) { o.WellKnown = wellKnownOpts })
	resp, body := get(t, h, "POST", "autodiscover.b.example", "/autodiscover/autodiscover.xml", strings.Replace(autodiscoverReq, "%s", "u1@b.example", 1))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var ad struct {
		XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
		Response struct {
			XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
			Account struct {
				Action   string `xml:"Action"`
				Protocol []struct {
					Type, Server, LoginName, Encryption string
					Port                                int
				} `xml:"Protocol"`
			} `xml:"Account"`
		} `xml:"Response"`
	}
	if err := xml.Unmarshal([]byte(body), &ad); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	ps := ad.Response.Account.Protocol
	if ad.Response.Account.Action != "settings" || len(ps) != 5 {
		t.Fatalf("response %s", body)
	}
	if p := ps[0]; p.Type != "IMAP" || p.Server != "mx.test" || p.Port != 993 || p.Encryption != "SSL" || p.LoginName != "u1@b.example" {
		t.Errorf("IMAP %+v", p)
	}
	if p := ps[4]; p.Type != "SMTP" || p.Port != 587 || p.Encryption != "TLS" {
		t.Errorf("submission %+v", p)
	}
	if resp, _ := get(t, h, "POST", "mx.test", "/Autodiscover/Autodiscover.xml", strings.Replace(autodiscoverReq, "%s", "u1@unknown.example", 1)); resp.StatusCode != 404 {
		t.Errorf("unknown domain: %d", resp.StatusCode)
	}
	if resp, _ := get(t, h, "POST", "mx.test", "/autodiscover/autodiscover.xml", "<nonsense"); resp.StatusCode != 400 {
		t.Errorf("bad request: %d", resp.StatusCode)
	}
}
