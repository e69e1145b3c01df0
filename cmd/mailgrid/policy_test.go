package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"mailgrid/internal/app"
	"mailgrid/internal/config"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
)

func TestBlockAndRuleCommands(t *testing.T) {
	dir := t.TempDir()
	run(t, dir, "", "domain", "add", "example.test")
	run(t, dir, "", "block", "add", "sender-domain", "Spam.Example", "--note", "known spammer")
	run(t, dir, "", "block", "add", "ip", "192.0.2.7", "--domain", "example.test")
	if err := runErr(dir, "block", "add", "ip", "not-an-ip"); err == nil {
		t.Fatal("a malformed IP was accepted")
	}
	var bs []blockView
	if err := json.Unmarshal([]byte(run(t, dir, "", "--json", "block", "list", "--domain", "example.test")), &bs); err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || bs[0].Kind != "ip" || bs[0].Value != "192.0.2.7/32" {
		t.Fatalf("domain list: %+v", bs)
	}
	if out := run(t, dir, "", "block", "list"); !strings.Contains(out, "spam.example") || strings.Contains(out, "192.0.2.7") {
		t.Fatalf("system list:\n%s", out)
	}
	run(t, dir, "", "block", "del", "ip", "192.0.2.7", "--domain", "example.test")
	if out := run(t, dir, "", "--json", "block", "list", "--domain", "example.test"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("after del: %s", out)
	}

	var rs []ruleView
	out := run(t, dir, "", "--json", "rule", "add", "big-or-exe", "--domain", "example.test", "--any",
		"--if", "size over 20M", "--if", "header:Content-Type contains .exe", "--if", "subject not matches *invoice*",
		"--action", "fileinto", "--arg", "Suspicious")
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) != 1 {
		t.Fatalf("rule add: %s %v", out, err)
	}
	r := rs[0]
	want := []filter.Condition{{Field: "size", Op: "over", Value: "20971520"},
		{Field: "header", Header: "Content-Type", Op: "contains", Value: ".exe"},
		{Field: "subject", Op: "matches", Value: "*invoice*", Not: true}}
	if r.ID == 0 || !r.MatchAny || r.Action != "fileinto" || r.Arg != "Suspicious" || len(r.Conditions) != 3 {
		t.Fatalf("rule %+v", r)
	}
	for i, c := range want {
		if r.Conditions[i] != c {
			t.Errorf("condition %d: %+v, want %+v", i, r.Conditions[i], c)
		}
	}
	if err := runErr(dir, "rule", "add", "bad", "--domain", "example.test", "--if", "colour is red", "--action", "drop"); err == nil {
		t.Fatal("a rule on an unknown field was accepted")
	}
	if err := runErr(dir, "rule", "add", "x", "--domain", "nowhere.test", "--if", "subject contains a", "--action", "drop"); err == nil {
		t.Fatal("a rule for a domain that is not hosted was accepted")
	}
	run(t, dir, "", "rule", "del", "--domain", "example.test", jsonID(t, out))
	if out := run(t, dir, "", "--json", "rule", "list", "--domain", "example.test"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("after del: %s", out)
	}
	if out := run(t, dir, "", "audit", "--action", "block."); strings.Count(out, "block.") != 3 {
		t.Fatalf("audit of block lists:\n%s", out)
	}
}

// jsonID is the ID of the one rule in out (JSON).
func jsonID(t *testing.T, out string) string {
	t.Helper()
	var rs []ruleView
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) != 1 {
		t.Fatalf("%s: %v", out, err)
	}
	return itoa(rs[0].ID)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A held message is listed, released into the recipient's INBOX past the filters, and
// gone from the quarantine.
func TestQuarantineRelease(t *testing.T) {
	dir := t.TempDir()
	run(t, dir, "", "domain", "add", "example.test")
	run(t, dir, "pw-12345678\n", "user", "add", "alice@example.test", "--password-stdin")

	ctx := context.Background()
	cfg := config.Default()
	cfg.Data = dir
	sys, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fa, err := sys.OpenFilterAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: evil@spam.example\r\nTo: alice@example.test\r\nSubject: held\r\n\r\nbody\r\n"
	held, err := fa.Quarantine.Hold(ctx, []filter.Held{{Domain: "example.test", Rcpt: mail.MustParse("alice@example.test"),
		From: mail.MustParse("evil@spam.example"), Reason: "test policy", Mailet: "test"}}, bytes.NewReader([]byte(msg)))
	if err != nil || len(held) != 1 {
		t.Fatalf("hold: %v %v", held, err)
	}
	if err := fa.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sys.Close(); err != nil {
		t.Fatal(err)
	}

	var hs []heldView
	if err := json.Unmarshal([]byte(run(t, dir, "", "--json", "quarantine", "list", "--domain", "example.test")), &hs); err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || hs[0].Reason != "test policy" || hs[0].Rcpt != "alice@example.test" {
		t.Fatalf("list: %+v", hs)
	}
	id := itoa(hs[0].ID)
	if err := runErr(dir, "quarantine", "release", "other.test", id); err == nil {
		t.Fatal("released a message through another domain")
	}
	run(t, dir, "", "quarantine", "release", "example.test", id)
	if out := run(t, dir, "", "--json", "quarantine", "list"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("still held: %s", out)
	}

	sys, err = app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sys.Close(); err != nil {
			t.Error(err)
		}
	}()
	a, err := sys.Dir.Account(ctx, mail.MustParse("alice@example.test"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sys.Shards.Shard(directory.LocalShard)
	if err != nil {
		t.Fatal(err)
	}
	ref := store.AccountRef{Domain: a.Address.Domain, ID: a.ID}
	mb, err := st.Mailbox(ctx, ref, "INBOX")
	if err != nil || mb.Messages != 1 {
		t.Fatalf("INBOX after release: %+v %v", mb, err)
	}
}
