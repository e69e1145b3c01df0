package postgres

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"mailgrid/internal/store"
	"mailgrid/internal/testkit/pgtest"
)

// TestDigestMessages checks the server-built digest against store.DigestLine over the
// listed messages (flags, several messages, a date before 1970 with microseconds), and
// that it follows a flag change.
func TestDigestMessages(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openAt(t, dsn, Options{})
	ctx := t.Context()
	ensure(t, s, acctA)
	var mbox store.MailboxID
	for i, body := range []string{"Subject: a\r\n\r\none\r\n", "Subject: b\r\n\r\ntwo\r\n", "Subject: c\r\n\r\nthree\r\n"} {
		r := deliver(t, s, []byte(body), acctA)
		mbox = r[0].Mailbox
		if i == 1 {
			if _, err := s.StoreFlags(ctx, acctA, mbox, store.FlagUpdate{UIDs: []store.UID{r[0].UID}, Op: store.FlagsAdd,
				Flags: []string{`\Seen`, "$Work"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	other := store.AccountRef{Domain: acctA.Domain, ID: 99}
	if err := s.ImportAccount(ctx, other); err != nil {
		t.Fatal(err)
	}
	old, err := s.ImportMailbox(ctx, other, store.ImportMailbox{Name: store.Inbox, UIDValidity: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ImportMessages(ctx, other, old, []store.ImportMessage{{UID: 4, ModSeq: 9, Flags: []string{`\Flagged`},
		InternalDate: time.Date(1969, 7, 20, 20, 17, 40, 123456000, time.FixedZone("", -5*3600)),
		Body:         bytes.NewReader([]byte("Subject: old\r\n\r\nsmall step\r\n"))}}); err != nil {
		t.Fatal(err)
	}
	check := func(acct store.AccountRef, id store.MailboxID, wantN int64) [32]byte {
		t.Helper()
		h := sha256.New()
		if err := s.Messages(ctx, acct, id, store.Query{NoMeta: true}, func(m store.Message) error {
			h.Write([]byte(store.DigestLine(m)))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		n, sum, err := s.DigestMessages(ctx, acct, id)
		if err != nil {
			t.Fatal(err)
		}
		if n != wantN || sum != [32]byte(h.Sum(nil)) {
			t.Errorf("digest of %d messages %x, want %d %x", n, sum, wantN, h.Sum(nil))
		}
		return sum
	}
	before := check(acctA, mbox, 3)
	check(other, old, 1)
	if _, err := s.StoreFlags(ctx, acctA, mbox, store.FlagUpdate{UIDs: []store.UID{1}, Op: store.FlagsAdd, Flags: []string{`\Answered`}}); err != nil {
		t.Fatal(err)
	}
	if after := check(acctA, mbox, 3); after == before {
		t.Error("the digest did not change with a flag")
	}
	if _, _, err := s.DigestMessages(ctx, acctA, old); err == nil {
		t.Error("another account's mailbox was digested")
	}
}
