package mailets_test

import (
	"context"
	"strings"
	"testing"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
)

// stack is the real delivery stack (SQLite directory, store, queue and filter state)
// with chains built by build.
func stack(t *testing.T, build func(e *deliverytest.Env, c *filter.Chains)) *deliverytest.Env {
	t.Helper()
	e := deliverytest.New(t, deliverytest.Options{Chains: func(e *deliverytest.Env) *filter.Chains {
		c := filter.NewChains(nil)
		build(e, c)
		return c
	}})
	e.Domain(t, "local.test", 0, 0)
	return e
}

func add(t *testing.T, c *filter.Chains, stage filter.Stage, r filter.Rule) {
	t.Helper()
	if err := c.Add(stage, "", r); err != nil {
		t.Fatal(err)
	}
}

func deliver(t *testing.T, e *deliverytest.Env, env *delivery.Envelope, msg string) (*delivery.Error, []delivery.Result) {
	t.Helper()
	res, err := e.Pipeline.Deliver(context.Background(), env, delivery.Bytes(msg))
	reply, _ := delivery.Outcome(res, err)
	return reply, res
}

func envTo(from string, to ...string) *delivery.Envelope {
	env := &delivery.Envelope{}
	if from != "" {
		env.From = mail.MustParse(from)
	}
	for _, a := range to {
		env.Recipients = append(env.Recipients, delivery.Recipient{Addr: mail.MustParse(a)})
	}
	return env
}

func wantReply(t *testing.T, reply *delivery.Error, code int, enh [3]int) {
	t.Helper()
	if reply == nil || reply.Code != code || reply.Enhanced != enh {
		t.Fatalf("reply %v, want %d %v", reply, code, enh)
	}
}

func only(t *testing.T, e *deliverytest.Env, a directory.Account, mailbox string) string {
	t.Helper()
	ms := e.Messages(t, a, mailbox)
	if len(ms) != 1 {
		t.Fatalf("%s %q has %d messages, want 1", a.Address, mailbox, len(ms))
	}
	return string(ms[0].Body)
}

func headerOf(msg string) string {
	h, _, _ := strings.Cut(msg, "\r\n\r\n")
	return h + "\r\n"
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
