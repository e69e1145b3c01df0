package main

// Webmail figures: the message-list and search pages (and the mail API's list) over HTTP
// against the built binary, for folders of 1,000 and 100,000 messages.
//
// The folders are filled through the SQLite store driver from this process, on the node's
// own shard directory (the driver lets several processes share a shard, as a second node
// would): 100,000 deliveries over SMTP would take minutes and measure SMTP again. What is
// measured goes through the node's HTTP listener like a browser: sequential requests with
// the session cookie, latency from the request to the end of the body, and the node's CPU
// time per request (/proc/PID/stat), which a loaded machine distorts less than wall time.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	storesqlite "mailgrid/internal/store/sqlite"

	"mailgrid/internal/store"
)

// webmailSizes are the folder sizes measured.
var webmailSizes = []int{1000, 100000}

// runWebmail starts a node with an HTTP listener, fills one account per folder size and
// prints the page latencies. reqs is the number of measured requests per page.
func runWebmail(bin string, reqs int) error {
	dir, err := os.MkdirTemp("", "mailgrid-bench-web-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	web := freeAddr()
	n := &node{bin: bin, dir: dir, cfg: filepath.Join(dir, "mailgrid.toml")}
	cfg := fmt.Sprintf(`data = %q
hostname = "bench.mailgrid.test"
[listen]
smtp = %q
submission = ""
submissions = ""
imap = ""
imaps = ""
pop3 = ""
pop3s = ""
http = %q
[log]
level = "warn"
`, filepath.Join(dir, "data"), freeAddr(), web)
	if err := os.WriteFile(n.cfg, []byte(cfg), 0o600); err != nil {
		return err
	}
	n.cmd = exec.Command(bin, "serve", "--config", n.cfg)
	n.cmd.Env = append(os.Environ(), "MAILGRID_ADMIN_PASSWORD=bench-admin")
	n.cmd.Stdout, n.cmd.Stderr = os.Stderr, os.Stderr
	if err := n.cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
	}()
	if err := waitListen(web); err != nil {
		return err
	}
	if err := n.cli("", "domain", "add", "bench.test"); err != nil {
		return err
	}
	for _, size := range webmailSizes {
		user := fmt.Sprintf("web%d@bench.test", size)
		if err := n.cli("bench-password\n", "user", "add", user, "--password-stdin"); err != nil {
			return err
		}
		c, id, err := webLogin("http://"+web, user, "bench-password")
		if err != nil {
			return err
		}
		start := time.Now()
		if err := fillFolder(filepath.Join(dir, "data", "shards", "local"), store.AccountRef{Domain: "bench.test", ID: id}, size); err != nil {
			return err
		}
		fmt.Printf("webmail: filled INBOX of %s with %d messages in %.1fs (through the store driver)\n", user, size, time.Since(start).Seconds())
		if err := measureWebmail(c, "http://"+web, n.cmd.Process.Pid, size, reqs); err != nil {
			return err
		}
	}
	return nil
}

// waitListen waits up to 15 s until addr accepts a TCP connection.
func waitListen(addr string) error {
	for range 300 {
		if c, err := net.Dial("tcp", addr); err == nil {
			return c.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s after 15 s", addr)
}

// webLogin signs in over the JSON API and returns a client with the session cookie and
// the account's id.
func webLogin(base, user, pass string) (*http.Client, int64, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, 0, err
	}
	c := &http.Client{Jar: jar, Timeout: 5 * time.Minute}
	body := fmt.Sprintf(`{"login":%q,"password":%q}`, user, pass)
	resp, err := c.Post(base+"/api/v1/login", "application/json", strings.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	var me struct {
		Account struct {
			ID int64 `json:"id"`
		} `json:"account"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&me); err != nil || resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("login %s: %d %v", user, resp.StatusCode, err)
	}
	return c, me.Account.ID, nil
}

// benchWords make subjects and senders varied enough for sorting to mean something.
var benchWords = strings.Fields("invoice meeting report budget travel lunch review release " +
	"contract offer schedule update question urgent weekly notes project design party holiday")

// fillFolder delivers count distinct messages to the account's INBOX: varied subjects
// (with and without "Re:"), senders, sizes and dates; one in five unseen, one in two
// hundred flagged.
func fillFolder(shard string, ref store.AccountRef, count int) error {
	ctx := context.Background()
	st, err := storesqlite.Open(ctx, storesqlite.Options{Dir: shard})
	if err != nil {
		return err
	}
	if err := st.EnsureAccount(ctx, ref); err != nil {
		return errors.Join(err, st.Close())
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				w := benchWords[i%len(benchWords)]
				subj := fmt.Sprintf("%s %s %d", w, benchWords[(i/7)%len(benchWords)], i)
				if i%3 == 0 {
					subj = "Re: " + subj
				}
				raw := fmt.Sprintf("From: %s Sender%d <s%d@example.org>\r\nTo: %s\r\nSubject: %s\r\n"+
					"Message-ID: <%d.bench@example.org>\r\nDate: %s\r\n\r\n%s about %s, number %d.\r\n%s",
					strings.ToUpper(w[:1])+w[1:], i%500, i%500, "user@bench.test", subj, i,
					base.Add(time.Duration(i)*time.Minute).Format(time.RFC1123Z), w, subj, i,
					strings.Repeat("lorem ipsum dolor sit amet\r\n", 20+i%100))
				flags := []string{store.FlagSeen}
				if i%5 == 0 {
					flags = nil
				}
				if i%200 == 0 {
					flags = append(flags, store.FlagFlagged)
				}
				_, err := st.Deliver(ctx, store.Delivery{Body: memBody(raw), InternalDate: base.Add(time.Duration(i) * time.Minute),
					Targets: []store.DeliveryTarget{{Account: ref, Flags: flags}}})
				if err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range count {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(first, st.Close())
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// memBody is a store.Body over a string.
type memBodyT struct{ *strings.Reader }

func memBody(s string) memBodyT { return memBodyT{strings.NewReader(s)} }

// webCase is one measured page.
type webCase struct {
	name, path string
	cold       bool // the first request builds an index: reported alone, not in the figures
}

func measureWebmail(c *http.Client, base string, pid, size, reqs int) error {
	var boxes struct {
		Items []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	if err := getJSON(c, base+"/api/v1/mail/mailboxes", &boxes); err != nil {
		return err
	}
	var in int64
	for _, b := range boxes.Items {
		if b.Name == "INBOX" {
			in = b.ID
		}
	}
	pages := (size + 49) / 50
	f := fmt.Sprintf("/mail/f/%d", in)
	cases := []webCase{
		{"list by date, newest first (page 1)", f, false},
		{"list by date, middle page", f + "?page=" + strconv.Itoa(pages/2), false},
		{"list by date, oldest first (page 1)", f + "?order=asc", false},
		{"list by subject (page 1)", f + "?sort=subject&order=asc", true},
		{"list by sender (page 1)", f + "?sort=from&order=asc", true},
		{"list by size, largest first", f + "?sort=size", false},
		{"list unread (1 in 5)", f + "?filter=unread", false},
		{"list flagged (1 in 200)", f + "?filter=flagged", false},
		{"API list by subject, 50", fmt.Sprintf("/api/v1/mail/messages?mailbox=%d&sort=subject&order=asc", in), false},
		{"quick search (one word, all folders)", "/mail/search?q=" + url.QueryEscape("holiday"), true},
		{"search subject (rare)", "/mail/search?advanced=1&subject=" + url.QueryEscape("party 4"), false},
	}
	for _, wc := range cases {
		if wc.cold {
			d, _, err := timeGet(c, base+wc.path, pid)
			if err != nil {
				return err
			}
			fmt.Printf("webmail %d: %s: first request %.1f ms (fills its index)\n", size, wc.name, ms(d))
		}
		for range min(3, reqs) { // warm
			if _, _, err := timeGet(c, base+wc.path, pid); err != nil {
				return err
			}
		}
		n := reqs
		if strings.HasPrefix(wc.path, "/mail/search") && size > 10000 {
			n = max(5, reqs/5) // seconds each: fewer samples (the p99 is then the worst)
		}
		lat := make([]time.Duration, 0, n)
		var cpu time.Duration
		for range n {
			d, used, err := timeGet(c, base+wc.path, pid)
			if err != nil {
				return err
			}
			lat = append(lat, d)
			cpu += used
		}
		slices.Sort(lat)
		fmt.Printf("webmail %d: %s: p50 %.1f ms, p99 %.1f ms, server CPU %.1f ms/request (%d requests)\n",
			size, wc.name, ms(pctile(lat, 0.50)), ms(pctile(lat, 0.99)), ms(cpu/time.Duration(n)), n)
	}
	return nil
}

func getJSON(c *http.Client, u string, v any) error {
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", u, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// timeGet fetches u whole and returns the wall time and the server's CPU time spent.
func timeGet(c *http.Client, u string, pid int) (time.Duration, time.Duration, error) {
	before := procCPU(pid)
	t := time.Now()
	resp, err := c.Get(u)
	if err != nil {
		return 0, 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	err = errors.Join(err, resp.Body.Close())
	d := time.Since(t)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %d", u, resp.StatusCode)
	}
	return d, procCPU(pid) - before, err
}

// procCPU is the process's user+system CPU time (/proc/PID/stat fields 14 and 15, in
// clock ticks of 10 ms on Linux).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
