package milter_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/filtertest"
	"mailgrid/internal/filter/milter"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
)

func newMail(msg string, rcpts ...string) *filter.Mail {
	var rs []*filter.Recipient
	for _, a := range rcpts {
		addr := mail.MustParse(a)
		rs = append(rs, &filter.Recipient{Addr: addr, Orig: addr})
	}
	env := &filter.Envelope{From: mail.MustParse("sender@remote.example"), ClientIP: netip.MustParseAddr("192.0.2.10"),
		HELO: "client.remote.example", ID: "Q1"}
	return filter.NewMail(filter.StageData, env, filter.NewMessage(body.Bytes(msg)), rs)
}

func run(t *testing.T, c *filter.Chains, m *filter.Mail) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Run(ctx, m); err != nil {
		t.Fatal(err)
	}
}

func chains(t *testing.T, mt *milter.Milter, p filter.Policy) *filter.Chains {
	t.Helper()
	c := filter.NewChains(nil)
	if err := c.Add(filter.StageData, "", filter.Rule{Mailet: mt, Policy: p, Timeout: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRspamdMilter runs the mailet against rspamd's proxy worker in milter mode (Debian
// rspamd): GTUBE is rejected with rspamd's reply, a plain message passes, and the
// health check negotiates a session.
func TestRspamdMilter(t *testing.T) {
	r := filtertest.StartRspamdMilter(t)
	mt, err := milter.New(milter.Config{Name: "rspamd-milter", Network: "tcp", Address: r.Milter, Hostname: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mt.Health(t.Context()); err != nil {
		t.Fatalf("health: %v", err)
	}
	c := chains(t, mt, filter.FailClosed)

	spam := newMail("From: sender@remote.example\r\nTo: a@local.test\r\nSubject: test\r\nMessage-ID: <g@remote.example>\r\n\r\n"+
		filtertest.GTUBE+"\r\n", "a@local.test", "b@local.test")
	run(t, c, spam)
	for _, rc := range spam.Recipients {
		f := rc.Fate
		if f.Kind != filter.Reject || f.Reply.Code/100 != 5 || f.By != "rspamd-milter" {
			t.Errorf("GTUBE to %s: %+v", rc.Addr, f)
		}
	}
	t.Logf("GTUBE reply: %v", spam.Recipients[0].Fate.Reply)

	ham := newMail("From: sender@remote.example\r\nTo: a@local.test\r\nSubject: lunch\r\nMessage-ID: <h@remote.example>\r\n"+
		"Date: Sat, 14 Mar 2026 15:09:26 +0100\r\n\r\nShall we have lunch on Friday?\r\n", "a@local.test")
	run(t, c, ham)
	if f := ham.Recipients[0].Fate; f.Kind != filter.Deliver {
		t.Errorf("plain message: %+v", f)
	}
	got, err := ham.Message.Header(filter.FailedHeader)
	if err != nil || len(got) != 0 {
		t.Errorf("failure tag %v %v", got, err)
	}
	// rspamd adds its extended headers (filtertest turns them on) through the milter's
	// add-header.
	if xs, err := ham.Message.Header("X-Spamd-Result"); err != nil || len(xs) != 1 {
		t.Errorf("X-Spamd-Result from rspamd: %q %v", xs, err)
	} else {
		t.Logf("X-Spamd-Result: %.80s", xs[0])
	}
}

// TestMilterFailurePolicies: a milter that is not there, or one that never answers
// (a listener that accepts and stays silent), is a failure: fail-closed defers with
// 451 4.7.1, fail-open delivers tagged; the health check reports it.
func TestMilterFailurePolicies(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never answered
		}
	}()
	t.Cleanup(func() {
		for {
			select {
			case c := <-accepted:
				_ = c.Close()
			default:
				return
			}
		}
	})
	msg := "Subject: x\r\n\r\nbody\r\n"
	for _, tc := range []struct {
		name, addr string
		timeout    time.Duration
		what       string
	}{
		{"refused", dead, 5 * time.Second, "error"},
		{"silent", silent.Addr().String(), 300 * time.Millisecond, "timeout"},
	} {
		mt, err := milter.New(milter.Config{Name: "m", Network: "tcp", Address: tc.addr, Timeout: tc.timeout})
		if err != nil {
			t.Fatal(err)
		}
		if err := mt.Health(t.Context()); err == nil {
			t.Errorf("%s: health check passed", tc.name)
		} else if tc.what == "timeout" && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: health error %v is no timeout", tc.name, err)
		}
		closed := newMail(msg, "a@local.test")
		run(t, chains(t, mt, filter.FailClosed), closed)
		if f := closed.Recipients[0].Fate; f.Kind != filter.Defer || f.Reply.Code != 451 || f.Reply.Enhanced != [3]int{4, 7, 1} {
			t.Errorf("%s fail-closed: %+v", tc.name, f)
		}
		open := newMail(msg, "a@local.test")
		run(t, chains(t, mt, filter.FailOpen), open)
		if f := open.Recipients[0].Fate; f.Kind != filter.Deliver {
			t.Errorf("%s fail-open: %+v", tc.name, f)
		}
		tag, err := open.Message.Header(filter.FailedHeader)
		if err != nil || len(tag) != 1 || tag[0] != "m ("+tc.what+")" {
			t.Errorf("%s fail-open tag %q %v", tc.name, tag, err)
		}
	}
	if !strings.Contains(dead, "127.0.0.1") {
		t.Fatal(dead)
	}
}
