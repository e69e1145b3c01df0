package smtpserver_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/emersion/go-message/charset" // legacy charsets for the parser
	gomail "github.com/emersion/go-message/mail"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/smtpserver"
)

// nodeDir prepares test/node (npm ci with the committed lockfile when node_modules is
// missing) and returns its path.
func nodeDir(t *testing.T) (node, dir string) {
	t.Helper()
	node = need(t, "node")
	dir, err := filepath.Abs("../../test/node")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "nodemailer")); err != nil {
		npm := need(t, "npm")
		if _, err := run(t, dir, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"); err != nil {
			t.Fatalf("npm ci: %v", err)
		}
	}
	return node, dir
}

// TestNodemailer submits a multipart message with a UTF-8 subject and a binary attachment
// through STARTTLS + AUTH with nodemailer, asking for a Sent copy.
func TestNodemailer(t *testing.T) {
	node, dir := nodeDir(t)
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeSubmission, nil)
	host, port, _ := strings.Cut(addr, ":")
	attachment := make([]byte, 3000)
	if _, err := rand.Read(attachment); err != nil {
		t.Fatal(err)
	}
	subject := "Grüße — Прывітанне — 你好 ✉"
	for _, method := range []string{"PLAIN", "LOGIN"} {
		opts := map[string]any{
			"host": host, "port": port, "user": "sender@local.test", "pass": "sender-password", "method": method,
			"ca": w.certFile, "servername": "mx.test", "from": "Sender <sender@local.test>",
			"to": []string{"user@local.test", "friend@remote.example"}, "subject": subject,
			"text": "Hallo, schöne Grüße!\nZweite Zeile.", "attachmentName": "данные.bin",
			"attachmentBase64": base64.StdEncoding.EncodeToString(attachment),
			"headers":          map[string]string{"X-Mailgrid-Save-Sent": "yes"},
		}
		out, err := run(t, dir, node, "send.js", mustJSON(t, opts))
		if err != nil {
			t.Fatalf("nodemailer (%s): %v\n%s", method, err, out)
		}
		var res struct {
			MessageID string   `json:"messageId"`
			Response  string   `json:"response"`
			Accepted  []string `json:"accepted"`
		}
		if err := json.Unmarshal(out, &res); err != nil || len(res.Accepted) != 2 || !strings.HasPrefix(res.Response, "250 ") {
			t.Fatalf("nodemailer result %s (%v)", out, err)
		}
		ms := inbox(t, w, w.user, 1)
		checkNodemailerCopy(t, ms[0].Body, res.MessageID, subject, attachment)
		if _, proto, _ := splitTrace(t, ms[0].Body, "sender@local.test", afterTrace(t, ms[0].Body)); proto != "ESMTPSA" {
			t.Errorf("protocol %q", proto)
		}
		sent := w.Messages(t, w.sender, "Sent")
		if len(sent) != 1 {
			t.Fatalf("%d Sent copies", len(sent))
		}
		checkNodemailerCopy(t, sent[0].Body, res.MessageID, subject, attachment)
		if strings.HasPrefix(string(sent[0].Body), "Received:") || !strings.HasSuffix(string(ms[0].Body), string(sent[0].Body)) {
			t.Errorf("Sent copy is not the submitted message without trace headers")
		}
		q := w.QueueItems(t)
		if len(q) != 1 || q[0].Recipients[0].Addr != "friend@remote.example" {
			t.Fatalf("queue: %+v", q)
		}
		checkNodemailerCopy(t, q[0].Body, res.MessageID, subject, attachment)
		// Fresh state for the next method.
		w = newWorld(t, deliverytest.Options{})
		_, addr = w.server(t, smtpserver.ModeSubmission, nil)
		host, port, _ = strings.Cut(addr, ":")
	}
}

// afterTrace returns the stored message after Return-Path and Received.
func afterTrace(t *testing.T, b []byte) string {
	t.Helper()
	m := receivedRE.FindIndex(b[strings.Index(string(b), "\r\n")+2:])
	if m == nil {
		t.Fatalf("no Received:\n%s", b)
	}
	return string(b[strings.Index(string(b), "\r\n")+2+m[1]:])
}

func checkNodemailerCopy(t *testing.T, body []byte, msgID, subject string, attachment []byte) {
	t.Helper()
	if bytes.Contains(body, []byte("X-Mailgrid-Save-Sent")) {
		t.Errorf("X-Mailgrid-Save-Sent not removed")
	}
	r, err := gomail.CreateReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	got, err := r.Header.Subject()
	if err != nil || got != subject {
		t.Errorf("subject %q (%v), want %q", got, err, subject)
	}
	if id, _ := r.Header.MessageID(); "<"+id+">" != msgID {
		t.Errorf("Message-ID %q, nodemailer said %q", id, msgID)
	}
	found := false
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		if h, ok := p.Header.(*gomail.AttachmentHeader); ok {
			name, _ := h.Filename()
			data, err := io.ReadAll(p.Body)
			if err != nil || name != "данные.bin" || !bytes.Equal(data, attachment) {
				t.Errorf("attachment %q: %d bytes, equal=%v (%v)", name, len(data), bytes.Equal(data, attachment), err)
			}
			found = true
		}
	}
	if !found {
		t.Error("attachment missing")
	}
}
