package rspamd

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// gtube is the Generic Test for Unsolicited Bulk Email: rspamd rejects any message
// containing it.
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

func message(body string) string {
	return "From: Alice <alice@example.com>\r\nTo: bob@example.org, carol@example.org\r\n" +
		"Subject: lunch tomorrow\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n" +
		"Message-ID: <m1.lunch@example.com>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
}

var envelope = Envelope{
	IP:       netip.MustParseAddr("192.0.2.25"),
	Helo:     "mx.example.com",
	Hostname: "unknown",
	From:     "alice@example.com",
	Rcpt:     []string{"bob@example.org", "carol@example.org"},
	QueueID:  "Q1234",
}

func check(t *testing.T, c *Client, env Envelope, msg string) (*Result, error) {
	t.Helper()
	return c.Check(context.Background(), env, strings.NewReader(msg), int64(len(msg)))
}

// rspamdSetup is one rspamd started for TestRealRspamd and a client for it.
type rspamdSetup struct {
	d *daemon
	c *Client
}

// TestRealRspamd runs the client against an rspamd started for the test.
func TestRealRspamd(t *testing.T) {
	d := startRspamd(t)
	s := &rspamdSetup{d: d, c: d.client(t, Config{Timeout: 10 * time.Second})}
	defer s.c.Close()
	for _, sub := range []struct {
		name string
		f    func(*testing.T, *rspamdSetup)
	}{
		{"Normal", rspamdNormal},
		{"GTUBE", rspamdGTUBE},
		{"Chunked", rspamdChunked},
		{"Concurrent", rspamdConcurrent},
		{"HTTPError", rspamdHTTPError},
		{"LocalErrors", rspamdLocalErrors},
	} {
		t.Run(sub.name, func(t *testing.T) { sub.f(t, s) })
	}

	// Last: rspamd stopped -> unavailable.
	s.d.stop(t)
	s.c.Close()
	if _, err := check(t, s.c, envelope, message("x")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("rspamd stopped: %v", err)
	}
	if err := s.c.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ping with rspamd stopped: %v", err)
	}
}

func rspamdNormal(t *testing.T, s *rspamdSetup) {
	res, err := check(t, s.c, envelope, message("Shall we meet for lunch tomorrow at noon?\r\nAlice\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("normal: action %q score %.2f/%.2f symbols %d", res.Action, res.Score, res.RequiredScore, len(res.Symbols))
	if res.Action == Reject || res.Action == SoftReject || res.Score >= res.RequiredScore || res.RequiredScore <= 0 {
		t.Errorf("normal message: action %q score %v required %v", res.Action, res.Score, res.RequiredScore)
	}
	if res.MessageID != "m1.lunch@example.com" || res.Skipped {
		t.Errorf("message-id %q skipped %v", res.MessageID, res.Skipped)
	}
	// The envelope reached rspamd: two Rcpt headers, and MAIL FROM equal to From.
	if s, ok := res.Symbols["RCPT_COUNT_TWO"]; !ok || !slices.Equal(s.Options, []string{"2"}) || s.Name != "RCPT_COUNT_TWO" {
		t.Errorf("RCPT_COUNT_TWO: %+v (symbols %v)", s, names(res))
	}
	if _, ok := res.Symbols["FROM_EQ_ENVFROM"]; !ok {
		t.Errorf("no FROM_EQ_ENVFROM in %v", names(res))
	}
	var sum float64
	for _, s := range res.Symbols {
		sum += s.Score
	}
	if diff := sum - res.Score; diff > 0.01 || diff < -0.01 {
		t.Errorf("symbol scores sum to %v, score %v", sum, res.Score)
	}
	sorted := res.SortedSymbols()
	if len(sorted) != len(res.Symbols) || !slices.IsSortedFunc(sorted, func(a, b Symbol) int {
		return cmp.Compare(b.Score, a.Score)
	}) {
		t.Error("SortedSymbols not by descending score")
	}
}

func rspamdGTUBE(t *testing.T, s *rspamdSetup) {
	res, err := check(t, s.c, envelope, message("Buy now!\r\n"+gtube+"\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gtube: action %q score %.2f/%.2f smtp %q", res.Action, res.Score, res.RequiredScore, res.SMTPMessage)
	if res.Action != Reject || res.Score < res.RequiredScore {
		t.Errorf("GTUBE: action %q score %v required %v", res.Action, res.Score, res.RequiredScore)
	}
	if _, ok := res.Symbols["GTUBE"]; !ok {
		t.Errorf("no GTUBE symbol in %v", names(res))
	}
	if res.SMTPMessage == "" {
		t.Error("no smtp_message for the rejection")
	}
}

func rspamdChunked(t *testing.T, s *rspamdSetup) {
	// Size unknown: the body goes chunked.
	msg := message("Shall we meet for lunch tomorrow at noon?\r\n")
	res, err := s.c.Check(context.Background(), Envelope{}, io.MultiReader(strings.NewReader(msg)), -1)
	if err != nil || res.MessageID != "m1.lunch@example.com" {
		t.Fatalf("chunked: %+v, %v", res, err)
	}
}

func rspamdConcurrent(t *testing.T, s *rspamdSetup) {
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Go(func() {
			body, want := "hello\r\n", NoAction
			if i%2 == 1 {
				body, want = gtube+"\r\n", Reject
			}
			res, err := s.c.Check(context.Background(), envelope, strings.NewReader(message(body)), int64(len(message(body))))
			if err == nil && (want == Reject) != (res.Action == Reject) {
				err = errors.New("wrong action " + string(res.Action))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func rspamdHTTPError(t *testing.T, s *rspamdSetup) {
	// A path rspamd does not serve: its HTTP error is a protocol error with status.
	bad := s.d.client(t, Config{URL: s.d.url + "/no/such/prefix"})
	defer bad.Close()
	_, err := check(t, bad, envelope, message("x"))
	var e *Error
	if !errors.Is(err, ErrProtocol) || !errors.As(err, &e) || e.Status < 400 {
		t.Fatalf("unknown path: %v", err)
	}
	t.Logf("unknown path: %v", err)
}

func rspamdLocalErrors(t *testing.T, s *rspamdSetup) {
	_, err := check(t, s.c, Envelope{Helo: "evil\r\nRcpt: x@y"}, message("x"))
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrProtocol) {
		t.Fatalf("header injection: %v", err)
	}
	r := io.MultiReader(strings.NewReader(message("start")), errReader{})
	_, err = s.c.Check(context.Background(), envelope, r, 1000)
	if err == nil || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("read error: %v", err)
	}
}

func names(r *Result) []string {
	var out []string
	for n := range r.Symbols {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestTimeout: a peer that accepts and never answers makes the call fail as unavailable.
func TestTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return // listener closed
			}
			wg.Go(func() {
				if _, err := io.Copy(io.Discard, conn); err != nil {
					t.Logf("silent peer: %v", err)
				}
				if err := conn.Close(); err != nil {
					t.Logf("silent peer close: %v", err)
				}
			})
		}
	})
	defer wg.Wait()
	defer func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	}()
	c, err := New(Config{URL: "http://" + l.Addr().String(), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := check(t, c, envelope, message("x")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("silent peer: %v", err)
	}
	c2, _ := New(Config{URL: "http://" + l.Addr().String()})
	defer c2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c2.Ping(ctx); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("context deadline: %v", err)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:11333", "ftp://x", "http://"} {
		if _, err := New(Config{URL: u}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
}

func TestParseResult(t *testing.T) {
	body := `{"is_skipped":false,"score":6.5,"required_score":15.0,"action":"rewrite subject",
		"subject":"[SPAM] hi","symbols":{"A":{"name":"A","score":5.0,"metric_score":5.0,"options":["x","y"]},
		"B":{"score":1.5,"description":"bee"}},"messages":{"smtp_message":"go away","other":{"k":1}},
		"message-id":"id@x","milter":{"add_headers":{"X-Spam":{"value":"Yes","order":1},
		"X-Rspamd-Server":"h1","X-Multi":[{"value":"one","order":0},"two"]},"remove_headers":{"X-Spam":1,"X-Old":0}}}`
	r, err := parseResult([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.Action != RewriteSubject || r.Score != 6.5 || r.RequiredScore != 15 || r.Subject != "[SPAM] hi" ||
		r.SMTPMessage != "go away" || r.MessageID != "id@x" {
		t.Errorf("result %+v", r)
	}
	if r.Symbols["B"].Name != "B" || r.Symbols["B"].Description != "bee" || !slices.Equal(r.Symbols["A"].Options, []string{"x", "y"}) {
		t.Errorf("symbols %+v", r.Symbols)
	}
	wantAdd := []Header{{"X-Multi", "one"}, {"X-Multi", "two"}, {"X-Rspamd-Server", "h1"}, {"X-Spam", "Yes"}}
	if !slices.Equal(r.AddHeaders, wantAdd) || !slices.Equal(r.RemoveHeaders, []string{"X-Old", "X-Spam"}) {
		t.Errorf("milter: add %v remove %v", r.AddHeaders, r.RemoveHeaders)
	}
	for _, bad := range []string{``, `{`, `{"score":1}`, `{"action":"reject"}`, `[]`} {
		if _, err := parseResult([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := errorText([]byte(`{"error":"message too big"}`)); got != "message too big" {
		t.Errorf("errorText: %q", got)
	}
	if got := errorText([]byte("<html>not found</html>")); got != "<html>not found</html>" {
		t.Errorf("errorText: %q", got)
	}
}
