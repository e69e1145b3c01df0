package filter_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
)

// mailetFunc is a test mailet: a name and a function.
type mailetFunc struct {
	name string
	fn   func(ctx context.Context, m *filter.Mail) error
}

func (f *mailetFunc) Name() string                                      { return f.name }
func (f *mailetFunc) Service(ctx context.Context, m *filter.Mail) error { return f.fn(ctx, m) }

func newMail(stage filter.Stage, msg string, rcpts ...string) *filter.Mail {
	var rs []*filter.Recipient
	for _, a := range rcpts {
		addr := mail.MustParse(a)
		rs = append(rs, &filter.Recipient{Addr: addr, Orig: addr})
	}
	env := &filter.Envelope{From: mail.MustParse("sender@remote.example")}
	return filter.NewMail(stage, env, filter.NewMessage(body.Bytes(msg)), rs)
}

const testMsg = "Subject: hi\r\nFrom: sender@remote.example\r\n\r\nbody\r\n"

func TestChainPerRecipientDecisions(t *testing.T) {
	c := filter.NewChains(nil)
	var seen [][]string
	record := func(name string, fn func(r *filter.Recipient)) *mailetFunc {
		return &mailetFunc{name, func(_ context.Context, m *filter.Mail) error {
			var got []string
			for _, r := range m.Recipients {
				got = append(got, r.Addr.Local)
				fn(r)
			}
			seen = append(seen, got)
			return nil
		}}
	}
	must(t, c.Add(filter.StageData, "",
		filter.Rule{Matcher: filter.RecipientIs("a@one.test"), Mailet: record("reject-a", func(r *filter.Recipient) {
			r.Reject(filter.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Text: "no a"})
		})},
		filter.Rule{Mailet: record("defer-b", func(r *filter.Recipient) {
			if r.Addr.Local == "b" {
				r.Defer(filter.Reply{Text: "later"})
			}
		})},
		filter.Rule{Mailet: record("junk-rest", func(r *filter.Recipient) { r.KeepIn("Junk", `\Seen`) })},
	))
	must(t, c.Add(filter.StageData, "two.test",
		filter.Rule{Mailet: record("drop-two", func(r *filter.Recipient) { r.Drop("domain rule") })}))
	m := newMail(filter.StageData, testMsg, "a@one.test", "b@one.test", "c@one.test", "d@two.test")
	must(t, c.Run(context.Background(), m))

	want := [][]string{{"a"}, {"b", "c", "d"}, {"c", "d"}, {"d"}}
	if len(seen) != len(want) {
		t.Fatalf("mailets saw %v, want %v", seen, want)
	}
	for i := range want {
		if strings.Join(seen[i], ",") != strings.Join(want[i], ",") {
			t.Fatalf("mailet %d saw %v, want %v (final recipients are skipped)", i, seen[i], want[i])
		}
	}
	r := m.Recipients
	if f := r[0].Fate; f.Kind != filter.Reject || f.Reply.Code != 554 || f.By != "reject-a" {
		t.Errorf("a: %+v", f)
	}
	if f := r[1].Fate; f.Kind != filter.Defer || f.Reply.Code != 451 || f.Reply.Enhanced != [3]int{4, 7, 1} || f.By != "defer-b" {
		t.Errorf("b: %+v (a defer without a 4xx reply gets 451 4.7.1)", f)
	}
	if fl := r[2].Fate.Filings(); r[2].Fate.Kind != filter.Deliver || len(fl) != 1 || fl[0].Mailbox != "Junk" {
		t.Errorf("c: %+v", r[2].Fate)
	}
	if f := r[3].Fate; f.Kind != filter.Drop || f.By != "drop-two" {
		t.Errorf("d: %+v", f)
	}
}

func TestFateFilings(t *testing.T) {
	r := &filter.Recipient{}
	r.FileInto("Lists", nil, true)
	r.FileInto("inbox", nil, true)
	if got := names(r.Fate.Filings()); got != "Lists,inbox" {
		t.Fatalf(":copy keeps the implicit keep once: %s", got)
	}
	r.FileInto("Archive", []string{`\Seen`}, false)
	if got := names(r.Fate.Filings()); got != "Lists,inbox,Archive" {
		t.Fatalf("fileinto cancels the implicit keep: %s", got)
	}
	d := &filter.Recipient{}
	d.Discard()
	if len(d.Fate.Filings()) != 0 || d.Final() {
		t.Fatalf("discard: %+v", d.Fate)
	}
	d.Reject(filter.Reply{Code: 451, Text: "x"})
	if d.Fate.Reply.Code != 550 {
		t.Fatalf("Reject with a 4xx reply must become 5xx: %+v", d.Fate.Reply)
	}
	d.Drop("later decisions do not override")
	if d.Fate.Kind != filter.Reject {
		t.Fatal("first final fate must win")
	}
}

func names(fs []filter.Filing) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Mailbox)
	}
	return strings.Join(s, ",")
}

func TestFailurePolicies(t *testing.T) {
	boom := &mailetFunc{"scanner", func(context.Context, *filter.Mail) error { return errors.New("connection refused") }}
	slow := &mailetFunc{"slow", func(ctx context.Context, _ *filter.Mail) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	for _, c := range []struct {
		name   string
		rule   filter.Rule
		defer_ bool
		tag    string
	}{
		{"closed", filter.Rule{Mailet: boom}, true, ""},
		{"open", filter.Rule{Mailet: boom, Policy: filter.FailOpen}, false, "scanner (error)"},
		{"timeout open", filter.Rule{Mailet: slow, Policy: filter.FailOpen, Timeout: time.Millisecond}, false, "slow (timeout)"},
		{"timeout closed", filter.Rule{Mailet: slow, Timeout: time.Millisecond}, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := filter.NewChains(nil)
			must(t, ch.Add(filter.StageData, "", c.rule))
			m := newMail(filter.StageData, testMsg, "a@one.test")
			must(t, ch.Run(context.Background(), m))
			f := m.Recipients[0].Fate
			if c.defer_ {
				if f.Kind != filter.Defer || f.Reply.Code != 451 || f.Reply.Enhanced != [3]int{4, 7, 1} {
					t.Fatalf("fate %+v, want 451 4.7.1", f)
				}
				return
			}
			if f.Kind != filter.Deliver {
				t.Fatalf("fate %+v, want deliver", f)
			}
			got, err := m.Message.Header(filter.FailedHeader)
			must(t, err)
			if len(got) != 1 || got[0] != c.tag {
				t.Fatalf("tag %q, want %q", got, c.tag)
			}
		})
	}
	// A cancelled delivery is no mailet failure: Run reports it.
	ch := filter.NewChains(nil)
	must(t, ch.Add(filter.StageData, "", filter.Rule{Mailet: slow}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ch.Run(ctx, newMail(filter.StageData, testMsg, "a@one.test")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
}

type localOnly struct{ mailetFunc }

func (localOnly) Stages() []filter.Stage { return []filter.Stage{filter.StageLocal} }

func TestStagerRefusesOtherStages(t *testing.T) {
	ch := filter.NewChains(nil)
	m := &localOnly{mailetFunc{"sieve", nil}}
	if err := ch.Add(filter.StageData, "", filter.Rule{Mailet: m}); err == nil {
		t.Fatal("a StageLocal-only mailet was accepted at StageData")
	}
	must(t, ch.Add(filter.StageLocal, "", filter.Rule{Mailet: m}))
}

func TestRemoteStageScopesBySender(t *testing.T) {
	ch := filter.NewChains(nil)
	var n atomic.Int32
	count := &mailetFunc{"count", func(_ context.Context, m *filter.Mail) error { n.Add(int32(len(m.Recipients))); return nil }}
	must(t, ch.Add(filter.StageRemote, "remote.example", filter.Rule{Mailet: count}))
	m := newMail(filter.StageRemote, testMsg, "x@far.example", "y@other.example")
	must(t, ch.Run(context.Background(), m))
	if n.Load() != 2 {
		t.Fatalf("the sender domain's remote chain saw %d recipients, want 2", n.Load())
	}
}

// probe is a large virtual body that records how far it was read: it is never
// materialised, so a test can prove header edits do not read (copy) the body.
type probe struct {
	head string
	size int64
	max  atomic.Int64
}

func (p *probe) Size() int64 { return p.size }
func (p *probe) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	n := min(int64(len(b)), p.size-off)
	for i := range n {
		if o := off + i; o < int64(len(p.head)) {
			b[i] = p.head[o]
		} else {
			b[i] = 'x'
		}
	}
	if end := off + n; end > p.max.Load() {
		p.max.Store(end)
	}
	if n < int64(len(b)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

func TestHeaderEditsDoNotCopyTheBody(t *testing.T) {
	head := "Received: from a\r\nAuthentication-Results: mx.test; spf=pass (forged)\r\nSubject: big\r\n\r\n"
	p := &probe{head: head, size: 256 << 20} // 256 MiB that never exist in memory
	msg := filter.NewMessage(p)
	must(t, msg.RemoveFields(func(name, value string) bool {
		return strings.EqualFold(name, "Authentication-Results") && strings.HasPrefix(value, "mx.test;")
	}))
	must(t, msg.AddHeader("X-Spam-Status", "No, score=1.0"))
	must(t, msg.AddRaw("Authentication-Results: mx.test;\r\n\tspf=none\r\n"))
	v := msg.Body()
	if p.max.Load() > 1<<20 {
		t.Fatalf("editing the header read %d bytes of the body", p.max.Load())
	}
	wantHead := "Authentication-Results: mx.test;\r\n\tspf=none\r\nX-Spam-Status: No, score=1.0\r\nReceived: from a\r\nSubject: big\r\n\r\n"
	buf := make([]byte, len(wantHead)+3)
	if _, err := v.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if string(buf) != wantHead+"xxx" {
		t.Fatalf("view reads %q", buf)
	}
	wantSize := p.size - int64(len("Authentication-Results: mx.test; spf=pass (forged)\r\n")) +
		int64(len("Authentication-Results: mx.test;\r\n\tspf=none\r\nX-Spam-Status: No, score=1.0\r\n"))
	if v.Size() != wantSize {
		t.Fatalf("size %d, want %d", v.Size(), wantSize)
	}
	// A clone edits independently; removing an added field takes it out of the prefix.
	c := msg.Clone()
	must(t, c.RemoveHeader("x-spam-status"))
	if got, _ := msg.Header("X-Spam-Status"); len(got) != 1 {
		t.Fatal("editing a clone changed the original")
	}
	if got, _ := c.Header("X-Spam-Status"); len(got) != 0 {
		t.Fatal("RemoveHeader left an added field")
	}
	if c.Edits() == msg.Edits() {
		t.Fatal("clone edits not counted")
	}
	for _, bad := range []string{"Bad Name: x\r\n", "X: a\r\nInjected: b\r\n", "X: no crlf"} {
		if err := msg.AddRaw(bad); err == nil {
			t.Errorf("AddRaw(%q) accepted", bad)
		}
	}
	if err := msg.AddHeader("X-Inject", "a\r\nBcc: victim@example.com"); err != nil {
		t.Fatal(err)
	}
	if got, _ := msg.Header("Bcc"); len(got) != 0 {
		t.Fatal("a line break in a value injected a field")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
