package smtpserver_test

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/smtpserver"
)

type pyResult struct {
	OK      bool             `json:"ok"`
	Code    int              `json:"code"`
	Text    string           `json:"text"`
	Refused map[string][]any `json:"refused"`
	EHLO    []string         `json:"ehlo"`
}

func runPython(t *testing.T, opts map[string]any) pyResult {
	t.Helper()
	py := need(t, "python3")
	script, err := filepath.Abs("../../test/python/smtp_send.py")
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(t, ".", py, script, mustJSON(t, opts))
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var r pyResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	return r
}

func pyOpts(addr string, msg string) map[string]any {
	host, port, _ := strings.Cut(addr, ":")
	return map[string]any{"host": host, "port": port, "helo": "py.client.test",
		"message_b64": base64.StdEncoding.EncodeToString([]byte(msg))}
}

func TestPythonMX(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeMX, nil)
	msg := "From: Alice <alice@remote.example>\r\nTo: user@local.test\r\nSubject: plain\r\n" +
		"Message-ID: <1@remote.example>\r\n\r\nHello.\r\n.leading dot survives dot-stuffing\r\n..two\r\n"
	o := pyOpts(addr, msg)
	o["from"], o["to"] = "alice@remote.example", []string{"user@local.test"}
	r := runPython(t, o)
	if !r.OK {
		t.Fatalf("smtplib: %+v", r)
	}
	for _, ext := range []string{"8bitmime", "chunking", "dsn", "enhancedstatuscodes", "pipelining", "size", "smtputf8", "starttls"} {
		if !contains(r.EHLO, ext) {
			t.Errorf("EHLO lacks %s: %v", ext, r.EHLO)
		}
	}
	if contains(r.EHLO, "auth") {
		t.Errorf("MX advertises AUTH: %v", r.EHLO)
	}
	ms := inbox(t, w, w.user, 1)
	helo, proto, rcpt := splitTrace(t, ms[0].Body, "alice@remote.example", msg)
	if helo != "py.client.test" || proto != "ESMTP" || rcpt != "user@local.test" {
		t.Errorf("Received: helo %q proto %q for %q", helo, proto, rcpt)
	}
	w.spoolEmpty(t)
}

var addedHeadersRE = regexp.MustCompile(`^Message-ID: <[0-9a-z]+\.[a-z2-7]+@mx\.test>\r\nDate: ` + regexp.QuoteMeta(fixedDate) + "\r\n")

func TestPythonSubmission(t *testing.T) {
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			w := newWorld(t, deliverytest.Options{})
			_, addr := w.server(t, smtpserver.ModeSubmission, nil)
			// No Message-ID, no Date: the MSA adds them (RFC 6409 8.2, 8.3).
			msg := "From: Sender <sender@local.test>\r\nTo: user@local.test, x@remote.example\r\nSubject: via " + mech + "\r\n\r\nHi.\r\n"
			o := pyOpts(addr, msg)
			o["starttls"], o["cafile"], o["auth"] = true, w.certFile, mech
			o["user"], o["password"] = "sender@local.test", "sender-password"
			o["from"], o["to"] = "sender@local.test", []string{"user@local.test", "x@remote.example"}
			r := runPython(t, o)
			if !r.OK || len(r.Refused) != 0 {
				t.Fatalf("smtplib: %+v", r)
			}
			if !contains(r.EHLO, "auth") {
				t.Errorf("no AUTH after STARTTLS: %v", r.EHLO)
			}
			ms := inbox(t, w, w.user, 1)
			body := string(ms[0].Body)
			i := strings.Index(body, "Message-ID: ")
			if i < 0 {
				t.Fatalf("no Message-ID added:\n%s", body)
			}
			added := addedHeadersRE.FindString(body[i:])
			if added == "" {
				t.Fatalf("added headers malformed:\n%s", body[i:])
			}
			_, proto, _ := splitTrace(t, ms[0].Body, "sender@local.test", added+msg)
			if proto != "ESMTPSA" {
				t.Errorf("protocol %q, want ESMTPSA (RFC 3848)", proto)
			}
			items := w.QueueItems(t)
			if len(items) != 1 || len(items[0].Recipients) != 1 || items[0].Recipients[0].Addr != "x@remote.example" {
				t.Fatalf("queue: %+v", items)
			}
			q := string(items[0].Body)
			if strings.HasPrefix(q, "Return-Path:") || !strings.HasPrefix(q, "Received: from py.client.test") || !strings.HasSuffix(q, added+msg) {
				t.Errorf("queued body:\n%s", q)
			}
			if n := len(w.Messages(t, w.sender, "Sent")); n != 0 {
				t.Errorf("Sent copy without X-Mailgrid-Save-Sent")
			}
		})
	}
}

func TestPythonSMTPUTF8(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeMX, nil)
	msg := "From: Élise <élise@remote.example>\r\nTo: jürgen@local.test\r\nSubject: Grüße aus Köln ✉\r\n" +
		"Message-ID: <u@remote.example>\r\nDate: " + fixedDate + "\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHallo Jürgen, schöne Grüße.\r\n"
	o := pyOpts(addr, msg)
	o["from"], o["to"], o["mail_options"] = "élise@remote.example", []string{"jürgen@local.test"}, []string{"SMTPUTF8"}
	r := runPython(t, o)
	if !r.OK {
		t.Fatalf("smtplib: %+v", r)
	}
	ms := inbox(t, w, w.utf8, 1)
	_, proto, rcpt := splitTrace(t, ms[0].Body, "élise@remote.example", msg)
	if proto != "UTF8SMTP" || rcpt != "jürgen@local.test" {
		t.Errorf("Received: proto %q (RFC 6531 3.7.3), for %q", proto, rcpt)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
