package pgnotify

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"mailgrid/internal/store"
)

var (
	acctA = store.AccountRef{Domain: "example.com", ID: 1}
	acctB = store.AccountRef{Domain: "example.org", ID: 7}
)

func TestPayloadRoundTrip(t *testing.T) {
	in := []store.Change{
		{Kind: store.MessageAdded, Account: acctA, Mailbox: 3, UID: 1, ModSeq: 5, Flags: []string{}},
		{Kind: store.FlagsChanged, Account: acctA, Mailbox: 3, UID: 1, ModSeq: 6, Flags: []string{`\Seen`, "$Junk"}},
		{Kind: store.MessageExpunged, Account: acctB, Mailbox: 9, UID: 4294967295, ModSeq: 1 << 40},
		{Kind: store.MailboxRenamed, Account: acctB, Mailbox: 9, Name: "Jobs/Ünïcødé", OldName: `Work "x"`},
		{Kind: store.MailboxCreated, Account: acctA, Mailbox: 11, Name: "New"},
		{Kind: store.MailboxDeleted, Account: acctA, Mailbox: 11, Name: "New"},
		{Kind: store.AccountMoved, Account: acctB},
		{Kind: store.AccountDeleted, Account: acctA},
		{Kind: store.AccountDisabled, Account: acctB},
	}
	ps, err := Payloads("node1", in)
	if err != nil || len(ps) != 1 {
		t.Fatalf("Payloads = %d payloads, %v", len(ps), err)
	}
	n, err := Decode(ps[0])
	if err != nil {
		t.Fatal(err)
	}
	if n.Origin != "node1" || len(n.Resync) != 0 || !slices.EqualFunc(n.Changes, in, sameChange) {
		t.Errorf("decoded %+v\nwant %+v", n, in)
	}
	if n.Changes[0].Flags == nil {
		t.Error("MessageAdded without flags decodes to nil flags, want an empty list")
	}
	if ps, err := Payloads("node1", nil); err != nil || len(ps) != 0 {
		t.Errorf("Payloads(nil) = %v, %v", ps, err)
	}
}

func sameChange(x, y store.Change) bool {
	return x.Kind == y.Kind && x.Account == y.Account && x.Mailbox == y.Mailbox && x.UID == y.UID &&
		x.ModSeq == y.ModSeq && slices.Equal(x.Flags, y.Flags) && x.Name == y.Name && x.OldName == y.OldName
}

// TestPayloadSplit checks that a long change list is split into payloads under the
// limit, in order, and nothing is lost.
func TestPayloadSplit(t *testing.T) {
	var in []store.Change
	for i := range 1000 {
		in = append(in, store.Change{Kind: store.MessageExpunged, Account: acctA, Mailbox: 3, UID: store.UID(i + 1), ModSeq: uint64(i + 10)})
	}
	ps, err := Payloads("n", in)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) < 2 {
		t.Fatalf("1000 changes in %d payload(s)", len(ps))
	}
	var out []store.Change
	for _, p := range ps {
		if len(p) > MaxPayload {
			t.Errorf("payload of %d bytes", len(p))
		}
		n, err := Decode(p)
		if err != nil || len(n.Resync) != 0 {
			t.Fatalf("Decode: %v %+v", err, n.Resync)
		}
		out = append(out, n.Changes...)
	}
	if !slices.EqualFunc(out, in, sameChange) {
		t.Errorf("split payloads lost or reordered changes: %d of %d", len(out), len(in))
	}
}

// TestPayloadResync checks the markers: a change too big for any payload, and a list
// too long to send, become resync markers for their accounts.
func TestPayloadResync(t *testing.T) {
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("$keyword-%03d-%s", i, strings.Repeat("x", 80)))
	}
	huge := store.Change{Kind: store.FlagsChanged, Account: acctB, Mailbox: 2, UID: 1, ModSeq: 2, Flags: many}
	small := store.Change{Kind: store.MessageAdded, Account: acctA, Mailbox: 1, UID: 1, ModSeq: 1}
	ps, err := Payloads("n", []store.Change{small, huge})
	if err != nil || len(ps) != 2 {
		t.Fatalf("Payloads = %d, %v", len(ps), err)
	}
	first, _ := Decode(ps[0])
	second, _ := Decode(ps[1])
	if len(first.Changes) != 1 || first.Changes[0].Account != acctA ||
		len(second.Changes) != 0 || !slices.Equal(second.Resync, []store.AccountRef{acctB}) {
		t.Errorf("payloads %+v %+v", first, second)
	}

	var flood []store.Change
	for i := range 100_000 {
		a := acctA
		if i%2 == 1 {
			a = acctB
		}
		flood = append(flood, store.Change{Kind: store.MessageExpunged, Account: a, Mailbox: 1, UID: store.UID(i + 1), ModSeq: uint64(i + 1)})
	}
	ps, err = Payloads("n", flood)
	if err != nil || len(ps) != 1 {
		t.Fatalf("flood: %d payloads, %v", len(ps), err)
	}
	n, _ := Decode(ps[0])
	if len(n.Changes) != 0 || !slices.Equal(n.Resync, []store.AccountRef{acctA, acctB}) {
		t.Errorf("flood: %+v", n)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, p := range []string{"", "{", `{"o":"n","c":[{"k":99,"d":"example.com","a":1}]}`, `{"o":"n","c":[{"k":1,"a":1}]}`,
		`{"o":"n","c":[{"k":7,"d":"example.com","a":1}]}`} { // 7: AccountResync travels as "r", never as a change
		if _, err := Decode(p); err == nil {
			t.Errorf("Decode(%q) succeeded", p)
		}
	}
}

func TestNewOrigin(t *testing.T) {
	a, b := NewOrigin(), NewOrigin()
	if len(a) != 16 || a == b {
		t.Errorf("origins %q %q", a, b)
	}
}
