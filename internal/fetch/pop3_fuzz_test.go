package fetch

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"testing"
	"time"
)

// FuzzReplies feeds arbitrary server bytes to the client's reply parsers (status lines,
// UIDL and LIST listings, RETR with byte-stuffing): they must return an error or a result,
// never panic or read past the limits.
//
//	go test ./internal/fetch -run - -fuzz FuzzReplies -fuzztime 30s
func FuzzReplies(f *testing.F) {
	f.Add([]byte("+OK\r\n1 uid-1\r\n2 uid-2\r\n.\r\n+OK\r\n1 120\r\n2 7\r\n.\r\n+OK\r\nSubject: x\r\n\r\n..dot\r\n.\r\n"))
	f.Add([]byte("-ERR no\r\n"))
	f.Add([]byte("+OK\r\n1\r\n.\r\n"))
	f.Add([]byte("+OK\r\nx y\r\n.\r\n+OK\r\n1 -5\r\n.\r\n"))
	f.Add([]byte("+OK\n1 a\n.\n+OK\n.\n+OK\n" + string(bytes.Repeat([]byte("x"), 70000)) + "\n.\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		srv, cli := net.Pipe()
		go func() {
			// Swallow the commands; answer with data once, then hang up.
			go func() { _, _ = bufio.NewReader(srv).WriteTo(discard{}) }()
			_, _ = srv.Write(data)
			_ = srv.Close()
		}()
		c := &client{conn: cli, r: bufio.NewReaderSize(cli, 4096), timeout: 2 * time.Second}
		ctx := context.Background()
		if ids, err := c.uidl(ctx); err == nil {
			for n, u := range ids {
				if n < 1 || len(u) > 70 || u == "" {
					t.Fatalf("bad UIDL entry %d %q", n, u)
				}
			}
		}
		_, _ = c.list(ctx)
		if b, err := c.retr(ctx, 1, 1<<16); err == nil && len(b) > 1<<16 {
			t.Fatalf("RETR returned %d bytes over the limit", len(b))
		}
		_ = cli.Close()
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
