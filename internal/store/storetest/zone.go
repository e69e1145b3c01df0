package storetest

import (
	"testing"
	"time"

	"mailgrid/internal/store"
)

// testInternalDateZone: the internal date keeps the time zone it was given (an APPEND
// date-time, RFC 9051 2.3.3), through Messages, Copy and Move, and across a reopen.
func testInternalDateZone(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	zones := []*time.Location{time.FixedZone("", 5*3600+30*60), time.FixedZone("", -7*3600), time.UTC}
	for i, z := range zones {
		d := time.Date(2025, 7, 1+i, 9, 15, 42, 0, z)
		res, err := h.s.Deliver(h.ctx, store.Delivery{Body: body(h.message()), InternalDate: d,
			Targets: []store.DeliveryTarget{{Account: a}}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("Deliver: %v %+v", err, res)
		}
	}
	check := func(what string, msgs []store.Message) {
		t.Helper()
		if len(msgs) != len(zones) {
			t.Fatalf("%s: %d messages", what, len(msgs))
		}
		for i, m := range msgs {
			want := time.Date(2025, 7, 1+i, 9, 15, 42, 0, zones[i])
			_, gotOff := m.InternalDate.Zone()
			_, wantOff := want.Zone()
			if !m.InternalDate.Equal(want) || gotOff != wantOff {
				t.Errorf("%s: message %d internal date %v, want %v", what, i, m.InternalDate, want)
			}
		}
	}
	inbox := h.mailbox(a, "INBOX").ID
	check("delivered", h.messages(a, inbox, store.Query{}))
	check("without meta", h.messages(a, inbox, store.Query{NoMeta: true}))
	dst := h.create(a, "Copies").ID
	if _, err := h.s.Copy(h.ctx, a, inbox, []store.UID{1, 2, 3}, dst, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	check("copied", h.messages(a, dst, store.Query{}))
	moved := h.create(a, "Moved").ID
	if _, err := h.s.Move(h.ctx, a, dst, []store.UID{1, 2, 3}, moved); err != nil {
		t.Fatal(err)
	}
	check("moved", h.messages(a, moved, store.Query{}))
	h.reopen()
	check("reopened", h.messages(a, inbox, store.Query{}))
}
