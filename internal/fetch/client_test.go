package fetch_test

// The fetcher against a scripted POP3 server that misbehaves on purpose (RFC 1939 replies
// chosen by the test): -ERR at each step, a QUIT that fails, an oversized message, bad
// UIDL lines. The remote speaks plain text on loopback (TLS mode none).

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/fetch"
	"mailgrid/internal/testkit/linetest"
)

// fake is a POP3 maildrop with switches for failures.
type fake struct {
	mu      sync.Mutex
	uidls   []string // message i+1's unique-id
	bodies  []string
	expunge bool              // QUIT removes the messages marked deleted
	errOn   map[string]string // command -> -ERR text
	rawUIDL string            // replaces the UIDL listing when set
	sizes   map[int]int       // LIST sizes that lie
	logins  int
}

func (f *fake) serve(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { f.session(c) })
		}
	})
	return l.Addr().String()
}

func (f *fake) session(c net.Conn) {
	defer c.Close() //nolint:errcheck // test server
	if err := c.SetDeadline(time.Now().Add(linetest.Deadline)); err != nil {
		return
	}
	r := bufio.NewReader(c)
	w := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
	f.mu.Lock()
	greetErr, hasErr := f.errOn["greeting"]
	f.mu.Unlock()
	if hasErr {
		w("-ERR " + greetErr)
		return
	}
	w("+OK fake POP3 ready")
	deleted := map[int]bool{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		fields := strings.Fields(strings.TrimSpace(line))
		if len(fields) == 0 {
			continue
		}
		cmd := strings.ToUpper(fields[0])
		f.mu.Lock()
		msg, fail := f.errOn[cmd]
		f.mu.Unlock()
		if fail {
			w("-ERR " + msg)
			if cmd == "QUIT" {
				return
			}
			continue
		}
		f.mu.Lock()
		switch cmd {
		case "USER":
			w("+OK")
		case "PASS":
			f.logins++
			w("+OK logged in")
		case "UIDL":
			w("+OK")
			if f.rawUIDL != "" {
				w(f.rawUIDL)
			} else {
				for i, u := range f.uidls {
					if !deleted[i+1] {
						w(fmt.Sprintf("%d %s", i+1, u))
					}
				}
			}
			w(".")
		case "LIST":
			w("+OK")
			for i, b := range f.bodies {
				if deleted[i+1] {
					continue
				}
				size := len(b)
				if s, ok := f.sizes[i+1]; ok {
					size = s
				}
				w(fmt.Sprintf("%d %d", i+1, size))
			}
			w(".")
		case "RETR":
			n, _ := strconv.Atoi(fields[1])
			w("+OK")
			for l := range strings.SplitSeq(strings.TrimSuffix(f.bodies[n-1], "\r\n"), "\r\n") {
				if strings.HasPrefix(l, ".") {
					l = "." + l
				}
				w(l)
			}
			w(".")
		case "DELE":
			n, _ := strconv.Atoi(fields[1])
			deleted[n] = true
			w("+OK marked")
		case "QUIT":
			if f.expunge {
				var us, bs []string
				for i := range f.uidls {
					if !deleted[i+1] {
						us, bs = append(us, f.uidls[i]), append(bs, f.bodies[i])
					}
				}
				f.uidls, f.bodies = us, bs
			}
			f.mu.Unlock()
			w("+OK bye")
			return
		default:
			w("-ERR unknown command")
		}
		f.mu.Unlock()
	}
}

func newFake(n int) *fake {
	f := &fake{expunge: true, errOn: map[string]string{}, sizes: map[int]int{}}
	for i := 1; i <= n; i++ {
		f.uidls = append(f.uidls, fmt.Sprintf("uid-%d", i))
		f.bodies = append(f.bodies, fmt.Sprintf("Subject: fake %d\r\n\r\nbody %d\r\n", i, i))
	}
	return f
}

// fakeWorld is a fetcher whose account points at f.
func fakeWorld(t *testing.T, f *fake, keep bool) (*world, fetch.Account) {
	t.Helper()
	w := newWorld(t, 0)
	w.setAddr(f.serve(t))
	return w, w.add(t, keep, fetch.TLSNone, "pw")
}

// TestFetchQuitFails: in delete mode the remote's QUIT fails, so its deletions may not
// have happened: the UIDLs are kept, and the next run deletes the messages again without
// storing them twice.
func TestFetchQuitFails(t *testing.T) {
	f := newFake(2)
	f.errOn["QUIT"] = "could not remove messages"
	f.expunge = false
	w, a := fakeWorld(t, f, false)
	_, err := w.fetch(t, a)
	var re *fetch.RemoteError
	if !errors.As(err, &re) || re.Cmd != "QUIT" {
		t.Fatalf("run with a failing QUIT: %v", err)
	}
	if seen, _ := w.fs.Seen(t.Context(), a.ID); len(seen) != 2 {
		t.Fatalf("UIDLs after a failed QUIT: %v", seen)
	}
	f.mu.Lock()
	delete(f.errOn, "QUIT")
	f.expunge = true
	f.mu.Unlock()
	res, err := w.fetch(t, a)
	if err != nil || res.Fetched != 0 || res.Deleted != 2 {
		t.Fatalf("second run: %+v %v", res, err)
	}
	if got := w.subjects(t, w.local, folder); !slices.Equal(got, []string{"fake 1", "fake 2"}) {
		t.Fatalf("local folder: %q", got)
	}
	if seen, _ := w.fs.Seen(t.Context(), a.ID); len(seen) != 0 || len(f.uidls) != 0 {
		t.Fatalf("after the expunge: remembered %v, remote %v", seen, f.uidls)
	}
}

// TestFetchRefusals: each refusal ends the run with the server's text, stores nothing
// and deletes nothing.
func TestFetchRefusals(t *testing.T) {
	for _, step := range []string{"greeting", "USER", "PASS", "UIDL", "LIST", "RETR"} {
		t.Run(step, func(t *testing.T) {
			f := newFake(1)
			f.errOn[step] = "refused at " + step
			w, a := fakeWorld(t, f, false)
			_, err := w.fetch(t, a)
			if !fetch.IsRemote(err) || !strings.Contains(err.Error(), "refused at "+step) {
				t.Fatalf("err %v", err)
			}
			if n := len(w.Messages(t, w.local, folder)); n != 0 || len(f.uidls) != 1 {
				t.Fatalf("stored %d, remote holds %d", n, len(f.uidls))
			}
			a, _ = w.fs.Get(t.Context(), a.Owner, a.ID)
			if !strings.Contains(a.LastError, "refused at "+step) {
				t.Fatalf("recorded %q", a.LastError)
			}
		})
	}
}

// TestFetchBadUIDL: a UIDL listing that breaks RFC 1939 7 is a protocol error.
func TestFetchBadUIDL(t *testing.T) {
	f := newFake(1)
	f.rawUIDL = "1 " + strings.Repeat("x", 71)
	w, a := fakeWorld(t, f, true)
	if _, err := w.fetch(t, a); !fetch.IsRemote(err) || !strings.Contains(err.Error(), "bad line") {
		t.Fatalf("err %v", err)
	}
}

// TestFetchOversized: a message larger than MaxMessage stays on the remote and is
// reported; the others are fetched and deleted.
func TestFetchOversized(t *testing.T) {
	f := newFake(3)
	f.sizes[2] = 100 << 20
	w, a := fakeWorld(t, f, false)
	res, err := w.fetch(t, a)
	if err == nil || !strings.Contains(err.Error(), "larger than") || res.Fetched != 2 || res.Skipped != 1 {
		t.Fatalf("run: %+v %v", res, err)
	}
	if !slices.Equal(f.uidls, []string{"uid-2"}) {
		t.Fatalf("remote after the run: %v", f.uidls)
	}
	if got := w.subjects(t, w.local, folder); !slices.Equal(got, []string{"fake 1", "fake 3"}) {
		t.Fatalf("local: %q", got)
	}
}

// TestFetchNotPOP3: a service that is not POP3 is named as such, its banner not echoed.
func TestFetchNotPOP3(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		wg.Wait()
	})
	wg.Go(func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2 secret-banner\r\n"))
		_ = c.Close()
	})
	w := newWorld(t, 0)
	w.setAddr(l.Addr().String())
	a := w.add(t, true, fetch.TLSNone, "pw")
	_, err = w.f.Test(t.Context(), a, "pw")
	if !fetch.IsRemote(err) || !strings.Contains(err.Error(), "not a POP3 server") || strings.Contains(err.Error(), "secret-banner") {
		t.Fatalf("err %v", err)
	}
}
