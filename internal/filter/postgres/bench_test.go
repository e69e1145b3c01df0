package postgres_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/postgres"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
	"mailgrid/internal/store"
	"mailgrid/internal/testkit/pgtest"
)

func benchDB(b *testing.B) *postgres.DB {
	b.Helper()
	d, err := postgres.Open(b.Context(), pgtest.DSN(b), postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Close() })
	return d
}

func benchTokens(n, seed int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("tok%d-%d", seed%50, i)
	}
	return out
}

// BenchmarkTokensAdd: training one message of 200 tokens (one transaction).
func BenchmarkTokensAdd(b *testing.B) {
	ts := benchDB(b).Tokens(store.AccountRef{Domain: "one.test", ID: 1})
	i := 0
	for b.Loop() {
		if err := ts.Add(b.Context(), benchTokens(200, i), 1, 0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkTokensGet: classifying one message of 200 tokens (one query).
func BenchmarkTokensGet(b *testing.B) {
	ts := benchDB(b).Tokens(store.AccountRef{Domain: "one.test", ID: 1})
	for i := range 50 {
		if err := ts.Add(b.Context(), benchTokens(200, i), 1, 0); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		if _, err := ts.Get(b.Context(), benchTokens(200, i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkActiveScript: what every local delivery reads.
func BenchmarkActiveScript(b *testing.B) {
	d := benchDB(b)
	acct := store.AccountRef{Domain: "one.test", ID: 1}
	if err := d.PutScript(b.Context(), acct, "rules", `require "fileinto"; fileinto "Lists";`); err != nil {
		b.Fatal(err)
	}
	if err := d.SetActive(b.Context(), acct, "rules"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := d.ActiveScript(b.Context(), acct); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarkReplied: one vacation check-and-record.
func BenchmarkMarkReplied(b *testing.B) {
	d := benchDB(b)
	acct := store.AccountRef{Domain: "one.test", ID: 1}
	now, i := time.Now(), 0
	for b.Loop() {
		if _, err := d.MarkReplied(b.Context(), acct, fmt.Sprintf("s%d@remote.example", i), "h", now, time.Hour); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkHold: holding a 4 KiB message for one recipient (a new body each time).
func BenchmarkHold(b *testing.B) {
	d := benchDB(b)
	entry := []filter.Held{{Domain: "one.test", Account: 1, Rcpt: mail.MustParse("a@one.test"), Reason: "r", Mailet: "m"}}
	pad, i := strings.Repeat("x", 4096), 0
	for b.Loop() {
		if _, err := d.Hold(b.Context(), entry, body.Bytes(fmt.Sprintf("Subject: %d\r\n\r\n%s", i, pad))); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
