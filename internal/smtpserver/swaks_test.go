package smtpserver_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/smtpserver"
)

// swaks is the Swiss Army Knife for SMTP (Debian package swaks): a real client we did not
// write, with PIPELINING, STARTTLS with certificate verification and AUTH.

func swaksData(t *testing.T, msg string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "msg.eml")
	// swaks sends the file's lines with CRLF, dot-stuffed, and adds the final CRLF itself:
	// write LF line ends without the last one.
	data := strings.TrimSuffix(strings.ReplaceAll(msg, "\r\n", "\n"), "\n")
	if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSwaksMX(t *testing.T) {
	swaks := need(t, "swaks")
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeMX, nil)
	msg := "From: alice@remote.example\r\nTo: user@local.test, other@local.test\r\nSubject: swaks\r\n" +
		"Message-ID: <sw@remote.example>\r\n\r\nfirst\r\n.dot line\r\nlast\r\n"
	out, err := run(t, ".", swaks, "--server", addr, "--helo", "swaks.client.test", "--pipeline",
		"--from", "alice@remote.example", "--to", "user@local.test,other@local.test", "--data", "@"+swaksData(t, msg))
	if err != nil {
		t.Fatalf("swaks failed: %v", err)
	}
	if !strings.Contains(string(out), "250 2.0.0 Ok: queued as") {
		t.Errorf("no 250 in transcript:\n%s", out)
	}
	for _, a := range w.accounts("user", "other") {
		helo, proto, rcpt := splitTrace(t, inbox(t, w, a, 1)[0].Body, "alice@remote.example", msg)
		if helo != "swaks.client.test" || proto != "ESMTP" || rcpt != "" {
			t.Errorf("Received: %q %q for %q (no 'for' with two recipients)", helo, proto, rcpt)
		}
	}

	// A relay attempt fails at RCPT and stores nothing.
	out, err = run(t, ".", swaks, "--server", addr, "--from", "alice@remote.example", "--to", "x@remote.example", "--data", "@"+swaksData(t, msg))
	if err == nil || !strings.Contains(string(out), "554 5.7.1") {
		t.Fatalf("relay not refused: %v\n%s", err, out)
	}
	if items := w.QueueItems(t); len(items) != 0 {
		t.Fatal("relay attempt queued")
	}
}

func TestSwaksSubmission(t *testing.T) {
	swaks := need(t, "swaks")
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeSubmission, nil)
	msg := "From: Sender <sender@local.test>\r\nTo: user@local.test\r\nSubject: swaks submission\r\n" +
		"Message-ID: <sub@local.test>\r\nDate: " + fixedDate + "\r\n\r\nbody\r\n"
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		out, err := run(t, ".", swaks, "--server", addr, "--helo", "swaks.client.test",
			"--tls", "--tls-verify", "--tls-ca-path", w.certFile,
			"--auth", mech, "--auth-user", "sender@local.test", "--auth-password", "sender-password",
			"--from", "sender@local.test", "--to", "user@local.test,x@remote.example", "--data", "@"+swaksData(t, msg))
		if err != nil {
			t.Fatalf("%s: swaks failed: %v\n%s", mech, err, out)
		}
	}
	ms := inbox(t, w, w.user, 2)
	for _, m := range ms {
		if _, proto, _ := splitTrace(t, m.Body, "sender@local.test", msg); proto != "ESMTPSA" {
			t.Errorf("protocol %q", proto)
		}
	}
	if items := w.QueueItems(t); len(items) != 2 {
		t.Fatalf("%d queue items, want 2", len(items))
	}

	// Without TLS swaks cannot authenticate: our server does not offer AUTH.
	out, err := run(t, ".", swaks, "--server", addr, "--auth", "PLAIN", "--auth-user", "sender@local.test",
		"--auth-password", "sender-password", "--from", "sender@local.test", "--to", "user@local.test", "--data", "@"+swaksData(t, msg))
	if err == nil {
		t.Fatalf("authenticated without TLS:\n%s", out)
	}
	inbox(t, w, w.user, 2)
}
