package clamd

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func message(body string) string {
	return "From: a@example.com\r\nTo: b@example.org\r\nSubject: test\r\nMessage-ID: <1@example.com>\r\n" +
		"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\n" + body
}

func attachmentMessage(content string) string {
	b64 := base64.StdEncoding.EncodeToString([]byte(content))
	return "From: a@example.com\r\nTo: b@example.org\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"x.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--b--\r\n"
}

func scan(t *testing.T, c *Client, msg string) (Result, error) {
	t.Helper()
	return c.Scan(context.Background(), strings.NewReader(msg))
}

func wantInfected(t *testing.T, res Result, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	// clamd names unsigned local signatures "<name>.UNOFFICIAL".
	if !res.Infected || !strings.HasPrefix(res.Virus, testSignature) {
		t.Fatalf("result %+v, want infected with %s", res, testSignature)
	}
}

// clamdSetup is one clamd started for TestRealClamd and clients on both its sockets.
type clamdSetup struct {
	d         *daemon
	unix, tcp *Client
}

// TestRealClamd runs the client against a clamd started for the test.
func TestRealClamd(t *testing.T) {
	d := startClamd(t)
	s := &clamdSetup{d: d, unix: d.client(t, "unix", Config{}), tcp: d.client(t, "tcp", Config{})}
	for _, sub := range []struct {
		name string
		f    func(*testing.T, *clamdSetup)
	}{
		{"PingVersion", clamdPingVersion},
		{"Clean", clamdClean},
		{"Infected", clamdInfected},
		{"InfectedAttachment", clamdInfectedAttachment},
		{"InfectedTCP", clamdInfectedTCP},
		{"SmallChunks", clamdSmallChunks},
		{"OverStreamMaxLength", clamdOverStreamMaxLength},
		{"ClientMaxSize", clamdClientMaxSize},
		{"LocalReadError", clamdLocalReadError},
		{"Concurrent", clamdConcurrent},
	} {
		t.Run(sub.name, func(t *testing.T) { sub.f(t, s) })
	}

	// Last: clamd stopped -> unavailable, never clean.
	s.d.stop(t)
	for _, c := range []*Client{s.unix, s.tcp} {
		res, err := scan(t, c, message("hello"))
		if !errors.Is(err, ErrUnavailable) || res.Infected {
			t.Fatalf("clamd stopped: %+v, %v; want ErrUnavailable", res, err)
		}
		if err := c.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("ping with clamd stopped: %v", err)
		}
	}
}

func clamdPingVersion(t *testing.T, s *clamdSetup) {
	for _, c := range []*Client{s.unix, s.tcp} {
		if err := c.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		v, err := c.Version(context.Background())
		if err != nil || !strings.HasPrefix(v, "ClamAV ") {
			t.Fatalf("version %q, %v", v, err)
		}
	}
}

func clamdClean(t *testing.T, s *clamdSetup) {
	res, err := scan(t, s.unix, message("Hello, nothing to see here.\r\n"))
	if err != nil || res.Infected || res.Virus != "" {
		t.Fatalf("clean message: %+v, %v", res, err)
	}
}

func clamdInfected(t *testing.T, s *clamdSetup) {
	res, err := scan(t, s.unix, message("payload: "+testPattern+"\r\n"))
	wantInfected(t, res, err)
	t.Logf("virus name %q", res.Virus)
}

func clamdInfectedAttachment(t *testing.T, s *clamdSetup) {
	// The pattern is only visible once clamd decodes the MIME part.
	msg := attachmentMessage("binary junk " + testPattern + " more junk")
	if strings.Contains(msg, testPattern) {
		t.Fatal("pattern visible in the raw message")
	}
	res, err := scan(t, s.unix, msg)
	wantInfected(t, res, err)
}

func clamdInfectedTCP(t *testing.T, s *clamdSetup) {
	res, err := scan(t, s.tcp, message(testPattern))
	wantInfected(t, res, err)
}

func clamdSmallChunks(t *testing.T, s *clamdSetup) {
	// The pattern straddles many chunks; clamd reassembles the stream.
	c := s.d.client(t, "unix", Config{ChunkSize: 7})
	res, err := scan(t, c, message(strings.Repeat("filler ", 100)+testPattern))
	wantInfected(t, res, err)
}

func clamdOverStreamMaxLength(t *testing.T, s *clamdSetup) {
	big := message(strings.Repeat("0123456789abcdef", 2*streamMax/16))
	for _, c := range []*Client{s.unix, s.tcp} {
		res, err := scan(t, c, big)
		if !errors.Is(err, ErrSizeLimit) || !errors.Is(err, ErrScan) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("over StreamMaxLength: %+v, %v; want ErrSizeLimit", res, err)
		}
		if res.Infected {
			t.Fatal("result set on error")
		}
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Reply, "size limit exceeded") {
			t.Fatalf("error %v does not carry clamd's reply", err)
		}
	}
}

func clamdClientMaxSize(t *testing.T, s *clamdSetup) {
	c := s.d.client(t, "unix", Config{MaxSize: 1000, ChunkSize: 256})
	_, err := scan(t, c, message(strings.Repeat("x", 5000)))
	if !errors.Is(err, ErrSizeLimit) || !errors.Is(err, ErrScan) {
		t.Fatalf("over MaxSize: %v", err)
	}
	// At the limit is fine.
	if res, err := scan(t, c, message(strings.Repeat("y", 1000))[:1000]); err != nil || res.Infected {
		t.Fatalf("at MaxSize: %+v, %v", res, err)
	}
}

func clamdLocalReadError(t *testing.T, s *clamdSetup) {
	r := io.MultiReader(strings.NewReader(message("start")), errReader{})
	res, err := s.unix.Scan(context.Background(), r)
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrScan) || res.Infected {
		t.Fatalf("read error: %+v, %v", res, err)
	}
}

func clamdConcurrent(t *testing.T, s *clamdSetup) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			body := "clean\r\n"
			if i%2 == 1 {
				body = testPattern
			}
			res, err := s.unix.Scan(context.Background(), strings.NewReader(message(body)))
			if err == nil && res.Infected != (i%2 == 1) {
				err = errors.New("wrong verdict")
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

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestTimeout: a peer that accepts and never answers makes the call fail as unavailable
// once Config.Timeout or the context's deadline passes.
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

	c, err := New(Config{Network: "tcp", Address: l.Addr().String(), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Scan(context.Background(), strings.NewReader(message("x"))); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Config.Timeout: %v", err)
	}
	c, _ = New(Config{Network: "tcp", Address: l.Addr().String()})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("context deadline: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	c, err := New(Config{Network: "unix", Address: filepath.Join(t.TempDir(), "none.sock")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Scan(context.Background(), bytes.NewReader(nil)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("no socket: %v", err)
	}
	if _, err := New(Config{Network: "udp", Address: "x"}); err == nil {
		t.Fatal("udp accepted")
	}
	if _, err := New(Config{Network: "unix"}); err == nil {
		t.Fatal("empty address accepted")
	}
}

func TestParseScanReply(t *testing.T) {
	for _, c := range []struct {
		reply    string
		res      Result
		kind     error
		sizeLimt bool
	}{
		{"stream: OK", Result{}, nil, false},
		{"stream: Win.Test.EICAR_HDB-1 FOUND", Result{Infected: true, Virus: "Win.Test.EICAR_HDB-1"}, nil, false},
		{"stream: MailgridTest.Sig.UNOFFICIAL FOUND", Result{Infected: true, Virus: "MailgridTest.Sig.UNOFFICIAL"}, nil, false},
		{"INSTREAM size limit exceeded. ERROR", Result{}, ErrScan, true},
		{"stream: Can't allocate memory ERROR", Result{}, ErrScan, false},
		{"UNKNOWN COMMAND", Result{}, ErrScan, false},
		{"", Result{}, ErrScan, false},
		{"OK", Result{}, ErrScan, false},
	} {
		res, err := parseScanReply(c.reply)
		if res != c.res || !errors.Is(err, c.kind) || (c.kind == nil) != (err == nil) || errors.Is(err, ErrSizeLimit) != c.sizeLimt {
			t.Errorf("%q: %+v, %v", c.reply, res, err)
		}
	}
}
