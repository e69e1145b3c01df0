package mailets_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"mime/quotedprintable"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/mail"
	"mailgrid/internal/smtpserver"
)

// attachLimit is small.test's plan limit in the tests.
const attachLimit = 10000

// attachStack is the delivery stack with the attachment mailet at DATA: small.test is
// on a plan with a 10,000-byte attachment limit, big.test on none.
func attachStack(t *testing.T) *deliverytest.Env {
	t.Helper()
	e := stack(t, func(e *deliverytest.Env, c *filter.Chains) {
		add(t, c, filter.StageData, filter.Rule{Mailet: &mailets.AttachmentSize{Limits: mailets.PlanLimits{Plans: e.Dir}}})
	})
	ctx := context.Background()
	e.Domain(t, "small.test", 0, 0)
	e.Domain(t, "big.test", 0, 0)
	must(t, e.Dir.CreatePlan(ctx, directory.Plan{Name: "small", MaxAttachmentBytes: attachLimit}))
	must(t, e.Dir.SetDomainPlan(ctx, "small.test", "small"))
	e.Account(t, "user@small.test", "user-password", 0)
	e.Account(t, "sender@small.test", "sender-password", 0)
	e.Account(t, "user@big.test", "user-password", 0)
	return e
}

// withPart is a multipart/mixed message with a text part and one more part of n
// payload bytes in encoding enc, with the given disposition header ("" none) and a
// name parameter when named.
func withPart(n int, enc, disposition string, named bool) string {
	payload := strings.Repeat("x", n)
	var encoded string
	switch enc {
	case "base64":
		b := base64.StdEncoding.EncodeToString([]byte(payload))
		for len(b) > 76 {
			encoded += b[:76] + "\r\n"
			b = b[76:]
		}
		encoded += b
	case "quoted-printable":
		var sb strings.Builder
		w := quotedprintable.NewWriter(&sb)
		_, _ = w.Write([]byte(strings.Repeat("=", n))) // every byte becomes "=3D": 3 times larger encoded
		_ = w.Close()
		encoded = sb.String() // soft line breaks are "=\r\n" already
	default:
		encoded = payload
	}
	ct := "application/octet-stream"
	if named {
		ct += `; name="report.bin"`
	}
	h := "Content-Type: " + ct + "\r\nContent-Transfer-Encoding: " + enc + "\r\n"
	if disposition != "" {
		h += "Content-Disposition: " + disposition + "\r\n"
	}
	return "From: a@remote.example\r\nTo: user@small.test\r\nSubject: part\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n" +
		strings.Repeat("text line of the body\r\n", 1000) + // 23 KB of text is no attachment
		"--b\r\n" + h + "\r\n" + encoded + "\r\n--b--\r\n"
}

// The limit applies to the decoded size of attachments only, per recipient domain.
func TestAttachmentSizeInbound(t *testing.T) {
	e := attachStack(t)
	over, under := attachLimit+1, attachLimit
	for _, c := range []struct {
		name   string
		msg    string
		refuse bool
	}{
		{"base64 attachment over", withPart(over, "base64", "attachment; filename=r.bin", false), true},
		// 10,000 bytes are 13,5xx in base64: the decoded size counts.
		{"base64 attachment at the limit", withPart(under, "base64", "attachment; filename=r.bin", false), false},
		{"named part without disposition over", withPart(over, "base64", "", true), true},
		{"inline named part over", withPart(over, "base64", "inline; filename=logo.png", true), false},
		{"unnamed part without disposition", withPart(over, "7bit", "", false), false},
		{"quoted-printable over", withPart(over, "quoted-printable", "attachment", false), true},
		// 4,000 "=" are 12,000 encoded bytes but 4,000 decoded ones.
		{"quoted-printable under, encoded over", withPart(4000, "quoted-printable", "attachment", false), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			reply, _ := deliver(t, e, envTo("a@remote.example", "user@small.test"), c.msg)
			if c.refuse {
				wantReply(t, reply, 552, [3]int{5, 3, 4})
				return
			}
			if reply != nil {
				t.Fatalf("refused: %v", reply)
			}
		})
	}
	// One transaction, two domains: only small.test's recipient is refused.
	_, res := deliver(t, e, envTo("a@remote.example", "user@small.test", "user@big.test"),
		withPart(over, "base64", "attachment", false))
	if len(res) != 2 || res[0].Err == nil || res[0].Err.Code != 552 || res[1].Err != nil || !res[1].Committed {
		t.Fatalf("per recipient: %+v", res)
	}
}

// failingLimits is a directory that cannot answer.
type failingLimits struct{}

func (failingLimits) MaxAttachmentBytes(context.Context, string) (int64, error) {
	return 0, errors.New("directory unreachable")
}

// A limit that cannot be read defers (451 4.7.1), never refuses.
func TestAttachmentSizeFaultDefers(t *testing.T) {
	e := stack(t, func(e *deliverytest.Env, c *filter.Chains) {
		add(t, c, filter.StageData, filter.Rule{Mailet: &mailets.AttachmentSize{Limits: failingLimits{}}})
	})
	e.Account(t, "user@local.test", "pw", 0)
	reply, _ := deliver(t, e, envTo("a@remote.example", "user@local.test"), withPart(10, "7bit", "attachment", false))
	wantReply(t, reply, 451, [3]int{4, 7, 1})
}

// Over SMTP with Python's smtplib: the MX refuses the DATA of an attachment over the
// recipient domain's limit with 552 5.3.4 and stores nothing; submission applies the
// sender's domain's limit to a recipient whose own domain has none.
func TestAttachmentSizeSMTP(t *testing.T) {
	py := pythonOrSkip(t)
	e := attachStack(t)
	certFile, tlsConf := selfSignedCert(t)
	mx := smtpListen(t, e, smtpserver.ModeMX, tlsConf)
	sub := smtpListen(t, e, smtpserver.ModeSubmission, tlsConf)
	big := withPart(attachLimit+1, "base64", "attachment; filename=r.bin", false)

	r := smtplibSend(t, py, map[string]any{"addr": mx, "from": "a@remote.example", "to": []string{"user@small.test"}, "msg": big})
	if r.OK || r.Code != 552 || !strings.HasPrefix(r.Text, "5.3.4 ") {
		t.Fatalf("MX, over the limit: %+v", r)
	}
	r = smtplibSend(t, py, map[string]any{"addr": mx, "from": "a@remote.example", "to": []string{"user@big.test"}, "msg": big})
	if !r.OK {
		t.Fatalf("MX, a domain without a limit: %+v", r)
	}
	r = smtplibSend(t, py, map[string]any{"addr": sub, "from": "sender@small.test", "to": []string{"user@big.test"}, "msg": fromSender(big),
		"starttls": true, "cafile": certFile, "user": "sender@small.test", "password": "sender-password"})
	if r.OK || r.Code != 552 || !strings.HasPrefix(r.Text, "5.3.4 ") {
		t.Fatalf("submission, over the sender's limit: %+v", r)
	}
	small := fromSender(withPart(attachLimit/2, "base64", "attachment; filename=r.bin", false))
	r = smtplibSend(t, py, map[string]any{"addr": sub, "from": "sender@small.test", "to": []string{"user@big.test"}, "msg": small,
		"starttls": true, "cafile": certFile, "user": "sender@small.test", "password": "sender-password"})
	if !r.OK {
		t.Fatalf("submission within the limit: %+v", r)
	}
	ctx := context.Background()
	for addr, want := range map[string]int{"user@small.test": 0, "user@big.test": 2} {
		a, err := e.Dir.Account(ctx, mail.MustParse(addr))
		must(t, err)
		if n := len(e.Messages(t, a, "INBOX")); n != want {
			t.Errorf("%s has %d messages, want %d", addr, n, want)
		}
	}
}

// fromSender is msg from sender@small.test (submission checks the From: field).
func fromSender(msg string) string {
	return strings.Replace(msg, "From: a@remote.example", "From: sender@small.test", 1)
}

type smtplibResult struct {
	OK   bool   `json:"ok"`
	Code int    `json:"code"`
	Text string `json:"text"`
}

// smtplibScript sends one message with smtplib: STARTTLS and AUTH PLAIN when asked; a
// refusal of DATA (SMTPDataError) or of every recipient is reported with its code.
const smtplibScript = `
import json, smtplib, ssl, sys
o = json.loads(sys.argv[1])
host, port = o["addr"].rsplit(":", 1)
s = smtplib.SMTP(host, int(port), local_hostname="py.client.test", timeout=30)
out = {"ok": False}
try:
    s.ehlo()
    if o.get("starttls"):
        s.starttls(context=ssl.create_default_context(cafile=o["cafile"]))
        s.ehlo()
        s.login(o["user"], o["password"])
    s.sendmail(o["from"], o["to"], o["msg"].encode())
    out["ok"] = True
except smtplib.SMTPDataError as e:
    out["code"], out["text"] = e.smtp_code, e.smtp_error.decode()
except smtplib.SMTPRecipientsRefused as e:
    code, text = list(e.recipients.values())[0]
    out["code"], out["text"] = code, text.decode()
finally:
    s.quit()
print(json.dumps(out))
`

func pythonOrSkip(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 not found")
		}
		t.Skip("python3 not found")
	}
	return py
}

func smtplibSend(t *testing.T, py string, o map[string]any) smtplibResult {
	t.Helper()
	arg, err := json.Marshal(o)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", smtplibScript, string(arg)).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var r smtplibResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	return r
}

// smtpListen serves e's pipeline over SMTP in mode on a loopback port until the test ends.
func smtpListen(t *testing.T, e *deliverytest.Env, mode smtpserver.Mode, tlsConf *tls.Config) string {
	t.Helper()
	srv, err := smtpserver.New(smtpserver.Options{Mode: mode, Hostname: "mx.test", TLSConfig: tlsConf,
		Pipeline: e.Pipeline, Directory: e.Dir, SpoolDir: t.TempDir()})
	must(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), deliverytest.Deadline)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return l.Addr().String()
}

// selfSignedCert is a certificate for mx.test and 127.0.0.1: its PEM file (for the
// client's trust) and the server's configuration.
func selfSignedCert(t *testing.T) (string, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		DNSNames: []string{"mx.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	must(t, err)
	file := filepath.Join(t.TempDir(), "cert.pem")
	must(t, os.WriteFile(file, certPEM, 0o600))
	return file, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// The domain's own limit (directory.Domain.MaxAttachmentBytes) applies when set: below
// its plan's on small.test, alone on big.test (no plan).
func TestAttachmentSizeDomainLimit(t *testing.T) {
	e := attachStack(t)
	ctx := context.Background()
	for _, dl := range []struct {
		name  string
		limit int64
	}{{"small.test", 4000}, {"big.test", 6000}} {
		d, err := e.Dir.Domain(ctx, dl.name)
		must(t, err)
		d.MaxAttachmentBytes = dl.limit
		must(t, e.Dir.UpdateDomain(ctx, d))
	}
	for _, c := range []struct {
		rcpt   string
		n      int
		refuse bool
	}{{"user@small.test", 4001, true}, {"user@small.test", 4000, false},
		{"user@big.test", 6001, true}, {"user@big.test", 6000, false}} {
		reply, _ := deliver(t, e, envTo("a@remote.example", c.rcpt), withPart(c.n, "base64", "attachment", false))
		if c.refuse {
			wantReply(t, reply, 552, [3]int{5, 3, 4})
		} else if reply != nil {
			t.Fatalf("%s, %d bytes: refused: %v", c.rcpt, c.n, reply)
		}
	}
}
