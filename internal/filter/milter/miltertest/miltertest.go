// Package miltertest is a small milter for tests (go-milter's server side): it judges the
// envelope by fixed rules and records the callbacks it saw, so tests of the milter
// mailet and of the SMTP front-ends can check what a milter answered and heard.
//
// Rules: a client from 192.0.2.66 is rejected at connect; sender spammer@bad.example
// gets the reply "554 5.7.1 Sender blocked by the test milter" at MAIL; at RCPT
// nobody@<any domain> gets "550 5.1.1 No such user (test milter)" and later@<any
// domain> a tempfail; everything else continues, and at end of message the milter adds
// "X-Test-Milter: checked".
package miltertest

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	gomilter "github.com/emersion/go-milter"
)

// Log is what the milter saw, one line per callback ("connect [ip]", "helo NAME",
// "mail ADDR", "rcpt ADDR", "eom").
type Log struct {
	mu    sync.Mutex
	calls []string
}

func (l *Log) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

// Take returns the lines so far and forgets them.
func (l *Log) Take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.calls
	l.calls = nil
	return out
}

type judge struct {
	gomilter.NoOpMilter
	log *Log
}

func (m judge) Connect(host, _ string, _ uint16, addr net.IP, _ *gomilter.Modifier) (gomilter.Response, error) {
	m.log.add("connect " + host)
	if addr.String() == "192.0.2.66" {
		return gomilter.RespReject, nil
	}
	return gomilter.RespContinue, nil
}

func (m judge) Helo(name string, _ *gomilter.Modifier) (gomilter.Response, error) {
	m.log.add("helo " + name)
	return gomilter.RespContinue, nil
}

func (m judge) MailFrom(from string, _ *gomilter.Modifier) (gomilter.Response, error) {
	m.log.add("mail " + from)
	if strings.EqualFold(from, "spammer@bad.example") {
		return gomilter.NewResponseStr(byte(gomilter.ActReplyCode), "554 5.7.1 Sender blocked by the test milter"), nil
	}
	return gomilter.RespContinue, nil
}

func (m judge) RcptTo(rcpt string, _ *gomilter.Modifier) (gomilter.Response, error) {
	m.log.add("rcpt " + rcpt)
	switch local, _, _ := strings.Cut(strings.ToLower(rcpt), "@"); local {
	case "nobody":
		return gomilter.NewResponseStr(byte(gomilter.ActReplyCode), "550 5.1.1 No such user (test milter)"), nil
	case "later":
		return gomilter.RespTempFail, nil
	}
	return gomilter.RespContinue, nil
}

func (m judge) Body(mod *gomilter.Modifier) (gomilter.Response, error) {
	m.log.add("eom")
	if err := mod.AddHeader("X-Test-Milter", "checked"); err != nil {
		return nil, err
	}
	return gomilter.RespAccept, nil
}

// Start serves the milter on a loopback port until the test ends and returns its
// address (host:port) and log.
func Start(t testing.TB) (addr string, log *Log) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log = &Log{}
	srv := &gomilter.Server{NewMilter: func() gomilter.Milter { return judge{log: log} },
		Actions: gomilter.OptAddHeader | gomilter.OptChangeHeader}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close test milter: %v", err)
		}
		if err := <-done; err != nil && !errors.Is(err, gomilter.ErrServerClosed) {
			t.Errorf("test milter: %v", err)
		}
	})
	return l.Addr().String(), log
}
