package queue_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"mailgrid/internal/queue"
)

// dsn is a parsed RFC 3464 report.
type dsn struct {
	env          queue.Envelope
	rcpt         string
	header       message.Header
	text         string
	perMessage   textproto.Header
	recipients   []textproto.Header
	statusType   string
	originalType string
	original     string
}

// parseDSN parses a submitted DSN with go-message and checks its MIME structure
// (RFC 6522: multipart/report; report-type=delivery-status; three parts).
func parseDSN(t *testing.T, s submitted) dsn {
	t.Helper()
	d := dsn{env: s.env, rcpt: s.rcpt}
	e, err := message.Read(bytes.NewReader(s.data))
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	d.header = e.Header
	ct, params, err := e.Header.ContentType()
	if err != nil || ct != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN Content-Type %q %v (%v)", ct, params, err)
	}
	mr := e.MultipartReader()
	var parts []*message.Entity
	var bodies [][]byte
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("DSN part: %v", err)
		}
		b, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		parts, bodies = append(parts, p), append(bodies, b)
	}
	if len(parts) != 3 {
		t.Fatalf("DSN has %d parts, want 3", len(parts))
	}
	if ct, _, _ := parts[0].Header.ContentType(); ct != "text/plain" {
		t.Errorf("first part %q, want text/plain", ct)
	}
	d.text = string(bodies[0])
	d.statusType, _, _ = parts[1].Header.ContentType()
	if d.statusType != "message/delivery-status" && d.statusType != "message/global-delivery-status" {
		t.Errorf("second part %q, want message/delivery-status (or the RFC 6533 global form)", d.statusType)
	}
	d.perMessage, d.recipients = parseStatus(t, bodies[1])
	d.originalType, _, _ = parts[2].Header.ContentType()
	d.original = string(bodies[2])
	return d
}

// parseStatus splits a delivery-status body into its per-message and per-recipient
// field groups (RFC 3464 2.1).
func parseStatus(t *testing.T, b []byte) (textproto.Header, []textproto.Header) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	var groups []textproto.Header
	for range 100 {
		if _, err := br.Peek(1); errors.Is(err, io.EOF) {
			break
		}
		h, err := textproto.ReadHeader(br)
		if err != nil {
			t.Fatalf("delivery-status: %v", err)
		}
		groups = append(groups, h)
	}
	if len(groups) < 2 {
		t.Fatalf("delivery-status has %d field groups: %q", len(groups), b)
	}
	return groups[0], groups[1:]
}

func checkFields(t *testing.T, what string, h textproto.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := strings.TrimSpace(h.Get(k)); got != v {
			t.Errorf("%s %s: %q, want %q", what, k, got, v)
		}
	}
}
