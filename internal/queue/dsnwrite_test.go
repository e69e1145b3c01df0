package queue_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/queue"
)

// writeDSN composes r and parses the result.
func writeDSN(t *testing.T, r queue.DSNReport) dsn {
	t.Helper()
	var buf bytes.Buffer
	if err := queue.WriteDSN(&buf, r); err != nil {
		t.Fatal(err)
	}
	return parseDSN(t, submitted{data: buf.Bytes()})
}

// TestWriteDSNFields: the composer writes the fields it is given, verbatim ORCPT, one
// line per value whatever the envelope held, an X- diagnostic for a failure without a
// reply, and a header section whose overlong line is kept whole.
func TestWriteDSNFields(t *testing.T) {
	long := "X-Long: " + strings.Repeat("a", 9000) + "\r\n"
	orig := "Subject: hi\r\n" + long + "\r\nbody\r\n"
	d := writeDSN(t, queue.DSNReport{
		ReportingMTA: ourHost,
		To:           "a@sender.test",
		Date:         time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		EnvID:        "ENV\r\nX-Injected: yes",
		Recipients: []queue.DSNRecipient{{
			Addr: "b@dest.test", ORcpt: "rfc822;orig@dest.test", Action: queue.ActionFailed, Status: "5.4.4",
			Reply: queue.Reply{Enhanced: "5.4.4", Text: "no route to host"},
		}},
		Original: bytesBody{bytes.NewReader([]byte(orig))},
	})
	checkFields(t, "per-message", d.perMessage, map[string]string{
		"Reporting-MTA": "dns; " + ourHost, "Original-Envelope-Id": "ENV  X-Injected: yes", "X-Injected": "",
		"Arrival-Date": "", "X-Mailgrid-Queue-ID": "",
	})
	checkFields(t, "recipient", d.recipients[0], map[string]string{
		"Original-Recipient": "rfc822;orig@dest.test", "Final-Recipient": "rfc822; b@dest.test",
		"Action": "failed", "Status": "5.4.4", "Remote-MTA": "", "Diagnostic-Code": "X-mailgrid; no route to host",
	})
	if got := d.header.Get("Date"); got != "Sat, 01 Mar 2025 12:00:00 +0000" {
		t.Errorf("Date %q", got)
	}
	if !strings.HasPrefix(d.header.Get("Subject"), "Undelivered") || !strings.Contains(d.text, "<b@dest.test>: failed") {
		t.Errorf("subject %q, text %q", d.header.Get("Subject"), d.text)
	}
	if d.originalType != "text/rfc822-headers" || d.original != "Subject: hi\r\n"+long {
		t.Errorf("returned %s of %d octets, want the header section", d.originalType, len(d.original))
	}
}

// TestWriteDSNDelayUTF8: a delay report carries Will-Retry-Until and Last-Attempt-Date;
// a UTF-8 ORCPT alone is enough for the RFC 6533 types.
func TestWriteDSNDelayUTF8(t *testing.T) {
	arrival := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	r := queue.DSNReport{
		ReportingMTA: ourHost,
		To:           "a@sender.test",
		Date:         arrival.Add(4 * time.Hour),
		QueueID:      "q1",
		Arrival:      arrival,
		RetryUntil:   arrival.Add(queue.DefaultLifetime),
		Recipients: []queue.DSNRecipient{{
			Addr: "b@dest.test", ORcpt: "utf-8;ü@dest.test", Action: queue.ActionDelayed, Status: "4.2.2",
			RemoteMTA: "mx1.dest.test", Reply: queue.Reply{Code: 452, Enhanced: "4.2.2", Text: "full"},
			LastAttempt: arrival.Add(time.Hour),
		}},
		Original: bytesBody{bytes.NewReader([]byte(msg))},
	}
	if !r.UTF8() {
		t.Fatal("UTF8() false with a UTF-8 ORCPT")
	}
	d := writeDSN(t, r)
	checkFields(t, "per-message", d.perMessage, map[string]string{
		"X-Mailgrid-Queue-ID": "q1", "Arrival-Date": "Sat, 01 Mar 2025 08:00:00 +0000",
	})
	checkFields(t, "recipient", d.recipients[0], map[string]string{
		"Action": "delayed", "Remote-MTA": "dns; mx1.dest.test", "Diagnostic-Code": "smtp; 452 4.2.2 full",
		"Last-Attempt-Date": "Sat, 01 Mar 2025 09:00:00 +0000", "Will-Retry-Until": "Thu, 06 Mar 2025 08:00:00 +0000",
	})
	if d.statusType != "message/global-delivery-status" || d.originalType != "message/global-headers" {
		t.Errorf("types %s, %s", d.statusType, d.originalType)
	}
	if !strings.HasPrefix(d.header.Get("Subject"), "Delayed Mail") || !strings.Contains(d.text, "for 4h0m0s") {
		t.Errorf("subject %q, text %q", d.header.Get("Subject"), d.text)
	}
}
