package mailets_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/filtertest"
	"mailgrid/internal/filter/mailets"
)

func TestVirusQuarantineWithClamd(t *testing.T) {
	ctx := context.Background()
	cd := filtertest.StartClamd(t)
	virus := &mailets.Virus{Client: cd.Client(t, 10*time.Second)}
	closed := stack(t, func(_ *deliverytest.Env, c *filter.Chains) {
		add(t, c, filter.StageData, filter.Rule{Mailet: virus}) // fail-closed
	})
	a := closed.Account(t, "a@local.test", "pw-a-1234", 0)
	b := closed.Account(t, "b@local.test", "pw-b-1234", 0)
	infected := "From: x@remote.example\r\nSubject: invoice\r\n\r\nopen me " + filtertest.ClamdPattern + "\r\n"

	reply, res := deliver(t, closed, envTo("x@remote.example", "a@local.test", "b@local.test"), infected)
	if reply != nil || !res[0].Committed || !res[1].Committed {
		t.Fatalf("an infected message is accepted (and held): %v %+v", reply, res)
	}
	if n := closed.Total(t, a, b); n != 0 {
		t.Fatalf("%d infected copies delivered", n)
	}
	held, err := closed.Filter.List(ctx, filter.QuarantineQuery{Domain: "local.test", Account: a.ID})
	must(t, err)
	if len(held) != 1 || !strings.HasPrefix(held[0].Reason, "virus "+filtertest.ClamdSignature) || held[0].Mailet != "virus" || held[0].From.String() != "x@remote.example" {
		t.Fatalf("a@'s quarantine: %+v", held)
	}
	if h := headerOf(mustOpen(t, closed, held[0].ID)); !strings.Contains(h, "X-Mailgrid-Virus: infected ("+filtertest.ClamdSignature) {
		t.Fatalf("held message header:\n%s", h)
	}
	must(t, closed.Pipeline.Release(ctx, "local.test", held[0].ID))
	if got := only(t, closed, a, ""); !strings.Contains(got, filtertest.ClamdPattern) {
		t.Fatal("released message differs")
	}
	if n := closed.Total(t, b); n != 0 {
		t.Fatal("b@'s copy was released with a@'s")
	}

	if reply, _ := deliver(t, closed, envTo("x@remote.example", "b@local.test"), "Subject: clean\r\n\r\nhello\r\n"); reply != nil {
		t.Fatal(reply)
	}
	if got := only(t, closed, b, ""); !strings.Contains(got, "X-Mailgrid-Virus: clean (clamd)\r\n") {
		t.Fatalf("clean message:\n%s", got)
	}

	// clamd gone: fail-closed defers, fail-open delivers tagged; nothing is "clean".
	cd.Stop(t)
	reply, _ = deliver(t, closed, envTo("x@remote.example", "a@local.test"), infected)
	wantReply(t, reply, 451, [3]int{4, 7, 1})
	open := stack(t, func(_ *deliverytest.Env, c *filter.Chains) {
		add(t, c, filter.StageData, filter.Rule{Mailet: virus, Policy: filter.FailOpen})
	})
	o := open.Account(t, "o@local.test", "pw-o-1234", 0)
	if reply, _ := deliver(t, open, envTo("x@remote.example", "o@local.test"), "Subject: unscanned\r\n\r\nhi\r\n"); reply != nil {
		t.Fatal(reply)
	}
	got := only(t, open, o, "")
	if !strings.Contains(got, filter.FailedHeader+": virus (error)\r\n") || strings.Contains(got, "clean") {
		t.Fatalf("fail-open message:\n%s", got)
	}
}

func mustOpen(t *testing.T, e *deliverytest.Env, id int64) string {
	t.Helper()
	b, err := e.Filter.Open(context.Background(), "local.test", id)
	must(t, err)
	defer func() { must(t, b.Close()) }()
	buf := make([]byte, b.Size())
	if _, err := b.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	return string(buf)
}
