// Command bench measures the built mailgrid binary: SMTP acceptance into local mailboxes
// (messages/s, p50/p99 latency from end of DATA to the 250 reply, peak RSS of the server)
// for 4 KiB and 100 KiB messages with 20 concurrent sessions, and outbound queue
// throughput to a local SMTP sink found through a DNS server on loopback. It prints
// figures; nothing here passes or fails on time.
//
//	go run ./test/bench -bin bin/mailgrid [-sessions 20] [-messages 4000]
//
// With -cluster it measures the cluster shapes instead (cluster.go): nodes on the
// PostgreSQL server of -pg, with databases it creates and drops.
//
//	go run ./test/bench -bin bin/mailgrid -cluster [-pg postgres://postgres@127.0.0.1:5432/postgres]
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
)

func main() {
	bin := flag.String("bin", "bin/mailgrid", "mailgrid binary")
	sessions := flag.Int("sessions", 20, "concurrent SMTP sessions")
	messages := flag.Int("messages", 4000, "messages per inbound run (4 KiB); the 100 KiB run sends a quarter")
	outbound := flag.Int("outbound", 1000, "messages for the outbound run")
	cluster := flag.Bool("cluster", false, "measure cluster shapes on PostgreSQL instead (1 node/1 shard, 2/1, 2/2)")
	pg := flag.String("pg", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"-cluster: PostgreSQL maintenance DSN; the run creates and drops databases mailgrid_bench_*")
	moveOnly := flag.Bool("move-only", false, "-cluster: only the user-move figure (no shapes, no baseline)")
	webReqs := flag.Int("webmail-requests", 50, "measured requests per webmail page (webmail.go)")
	webOnly := flag.Bool("webmail-only", false, "only the webmail figures")
	mixOnly := flag.Bool("imap-mix-only", false, "only the IMAP mixed workloads and the IDLE memory after them (after the inbound runs that fill the mailboxes)")
	idleOnly := flag.Bool("imap-idle-only", false, "only the IMAP IDLE memory figures of fresh nodes (imapidle.go)")
	idleLimit := flag.Int64("imap-idle-limit", 40<<20, "node.memory_limit_bytes of the second fresh node's IMAP IDLE figure")
	withDovecot := flag.Bool("dovecot", false, "after mailgrid's figures, the same POP3 and IMAP mixed runs against Dovecot (dovecot.go)")
	flag.StringVar(&dovecotScheme, "dovecot-scheme", dovecotScheme, "password scheme of the Dovecot baseline's accounts: ARGON2ID with mailgrid's parameters, or one doveadm pw knows")
	dovecotOnly := flag.Bool("dovecot-only", false, "only the Dovecot baseline")
	flag.DurationVar(&imapIdleSettle, "imap-idle-settle", imapIdleSettle, "wait before the IMAP IDLE memory is sampled (imap.go)")
	flag.Parse()
	log.SetFlags(0)

	fmt.Printf("mailgrid bench — %s, %d CPUs, %s\n", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel())
	sink, err := startSink()
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()
	dnsAddr, stopDNS, err := startDNS("remote.bench", sink.addr)
	if err != nil {
		log.Fatal(err)
	}
	defer stopDNS()
	if *webOnly {
		if err := runWebmail(*bin, *webReqs); err != nil {
			log.Fatal(err)
		}
		return
	}
	users := make([]string, *sessions)
	for i := range users {
		users[i] = fmt.Sprintf("user%d@bench.test", i)
	}
	baseline := func() error { return runDovecot(users, "bench-password", *sessions, *messages, 20*time.Second) }
	if *dovecotOnly {
		if err := baseline(); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *idleOnly {
		runIMAPIdleFresh(*bin, dnsAddr, sink.port, users, *messages+*messages/4, *idleLimit)
		return
	}
	if *cluster {
		run := func() error { return runCluster(*bin, *pg, dnsAddr, *sessions, *messages, 20*time.Second) }
		if *moveOnly {
			run = func() error { return runMove(*bin, *pg, dnsAddr) }
		}
		if err := run(); err != nil {
			log.Print(err)
			stopDNS()
			sink.Close()
			os.Exit(1)
		}
		return
	}

	n, err := startNode(*bin, dnsAddr, sink.port)
	if err != nil {
		log.Fatal(err)
	}
	defer n.stop()
	if err := n.setup(users); err != nil {
		log.Fatal(err)
	}
	runInbound(n, users, 4<<10, *messages, *sessions)
	runInbound(n, users, 100<<10, *messages/4, *sessions)
	if *mixOnly {
		settle(n.cmd.Process.Pid, "text index of the delivered mail", 10*time.Minute)
		runIMAP(n.imaps, users, "bench-password", *sessions, 20*time.Second, n.cmd.Process.Pid, n.sampleRSS)
		n.stop()
		if *withDovecot {
			if err := baseline(); err != nil {
				log.Print(err)
			}
		}
		return
	}
	runPOP3(n.pop3, "user%d@bench.test", "bench-password", *sessions, *messages)
	settle(n.cmd.Process.Pid, "text index of the delivered mail", 10*time.Minute)
	runIMAP(n.imaps, users, "bench-password", *sessions, 20*time.Second, n.cmd.Process.Pid, n.sampleRSS)
	runIMAPIdleFresh(*bin, dnsAddr, sink.port, users, *messages+*messages/4, *idleLimit)
	runOutbound(n, sink, users[0], *outbound, *sessions)
	if err := runWebmail(*bin, *webReqs); err != nil {
		log.Print(err)
	}
	n.stop()
	if *withDovecot {
		if err := baseline(); err != nil {
			log.Print(err)
		}
	}
}

// runInbound sends count messages of size bytes over sessions concurrent connections to
// the MX listener, each session reusing its connection, and prints the figures.
func runInbound(n *node, users []string, size, count, sessions int) {
	body := makeMessage(size)
	lat := make([]time.Duration, 0, count)
	var mu sync.Mutex
	var next atomic.Int64
	var failed atomic.Int64
	rss := n.sampleRSS()
	start := time.Now()
	var wg sync.WaitGroup
	for s := 0; s < sessions; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			c, err := smtp.Dial(n.mx)
			if err != nil {
				log.Printf("dial: %v", err)
				failed.Add(1)
				return
			}
			defer c.Close()
			if err := c.Hello("bench.client"); err != nil {
				log.Printf("ehlo: %v", err)
				return
			}
			for next.Add(1) <= int64(count) {
				d, err := sendOne(c, "sender@client.bench", users[s%len(users)], body)
				if err != nil {
					failed.Add(1)
					log.Printf("send: %v", err)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
			_ = c.Quit()
		}(s)
	}
	wg.Wait()
	elapsed := time.Since(start)
	peak := rss()
	report(fmt.Sprintf("inbound %d KiB, %d sessions", size>>10, sessions), len(lat), int(failed.Load()), elapsed, lat, peak)
}

// sendOne runs one transaction and returns the time from the end of DATA to the reply.
func sendOne(c *smtp.Client, from, to string, body []byte) (time.Duration, error) {
	if err := c.Mail(from, nil); err != nil {
		return 0, err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return 0, err
	}
	w, err := c.Data()
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(body); err != nil {
		return 0, err
	}
	t := time.Now()
	if err := w.Close(); err != nil { // writes ".", waits for 250
		return 0, err
	}
	return time.Since(t), nil
}

// runOutbound submits count messages for remote.bench and measures until the sink has
// received all of them.
func runOutbound(n *node, sink *sink, user string, count, sessions int) {
	body := makeMessage(4 << 10)
	sink.received.Store(0)
	rss := n.sampleRSS()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for s := 0; s < sessions; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(n.mx)
			if err != nil {
				log.Printf("dial: %v", err)
				return
			}
			defer c.Close()
			// The MX does not relay; an alias of a local user that forwards to the remote
			// domain puts mail in the queue the way a forward does.
			for next.Add(1) <= int64(count) {
				if _, err := sendOne(c, "sender@client.bench", "fwd@bench.test", body); err != nil {
					log.Printf("send: %v", err)
					return
				}
			}
			_ = c.Quit()
		}()
	}
	wg.Wait()
	accepted := time.Since(start)
	deadline := time.Now().Add(5 * time.Minute)
	for sink.received.Load() < int64(count) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	got := sink.received.Load()
	fmt.Printf("outbound 4 KiB via queue: %d/%d delivered to the sink in %.2fs = %.0f msg/s (accepted in %.2fs), peak RSS %d MiB\n",
		got, count, elapsed.Seconds(), float64(got)/elapsed.Seconds(), accepted.Seconds(), rss()>>20)
}

func report(name string, ok, failed int, elapsed time.Duration, lat []time.Duration, peakRSS int64) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(float64(len(lat)-1)*p)]
	}
	fmt.Printf("%s: %d messages (%d failed) in %.2fs = %.0f msg/s; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; peak RSS %d MiB\n",
		name, ok, failed, elapsed.Seconds(), float64(ok)/elapsed.Seconds(),
		ms(pct(0.50)), ms(pct(0.99)), ms(pct(1)), peakRSS>>20)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// node is the mailgrid process under measurement.
type node struct {
	bin, cfg, mx, pop3, imaps string
	cmd                       *exec.Cmd
	dir                       string
}

// startNode starts a node with the bench's configuration and extra appended to it.
func startNode(bin, dnsAddr string, remotePort int, extra ...string) (*node, error) {
	dir, err := os.MkdirTemp("", "mailgrid-bench-")
	if err != nil {
		return nil, err
	}
	n := &node{bin: bin, dir: dir, mx: freeAddr(), pop3: freeAddr(), imaps: freeAddr(), cfg: filepath.Join(dir, "mailgrid.toml")}
	cfg := fmt.Sprintf(`data = %q
hostname = "bench.mailgrid.test"
[listen]
smtp = %q
submission = %q
submissions = ""
imap = ""
imaps = %q
pop3 = %q
pop3s = ""
http = ""
managesieve = ""
[dns]
servers = [%q]
[outbound]
smtp_port = %d
[queue]
concurrency = 20
per_domain = 20
[smtp]
max_conns_per_ip = 200
[log]
level = "warn"
`, filepath.Join(dir, "data"), n.mx, freeAddr(), n.imaps, n.pop3, dnsAddr, remotePort) + strings.Join(extra, "")
	if err := os.WriteFile(n.cfg, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	n.cmd = exec.Command(bin, "serve", "--config", n.cfg)
	n.cmd.Env = append(os.Environ(), "MAILGRID_ADMIN_PASSWORD=bench-admin")
	n.cmd.Stdout, n.cmd.Stderr = os.Stderr, os.Stderr
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; i < 300; i++ {
		if c, err := net.Dial("tcp", n.mx); err == nil {
			_ = c.Close()
			return n, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.stop()
	return nil, errors.New("mailgrid did not start")
}

func (n *node) cli(stdin string, args ...string) error {
	cmd := exec.Command(n.bin, append([]string{"--config", n.cfg}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("mailgrid %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (n *node) setup(users []string) error {
	if err := n.cli("", "domain", "add", "bench.test"); err != nil {
		return err
	}
	for _, u := range users {
		if err := n.cli("bench-password\n", "user", "add", u, "--password-stdin"); err != nil {
			return err
		}
	}
	return n.cli("", "alias", "add", "fwd@bench.test", "someone@remote.bench")
}

func (n *node) stop() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		n.cmd = nil
	}
	_ = os.RemoveAll(n.dir)
}

// sampleRSS samples the server's VmRSS every 50 ms until the returned func is called,
// which returns the peak in bytes.
func (n *node) sampleRSS() func() int64 {
	return samplePeak(func() int64 { return rssOf(n.cmd.Process.Pid) })
}

// samplePeak calls sample every 50 ms until the returned func is called, which returns
// the largest value sampled.
func samplePeak(sample func() int64) func() int64 {
	return samplePeakEvery(50*time.Millisecond, sample)
}

// samplePeakEvery is samplePeak with a sampling period of every.
func samplePeakEvery(every time.Duration, sample func() int64) func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if v := sample(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(done); <-stopped; return peak.Load() }
}

func rssOf(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// rssSplit describes the process's resident memory by kind (/proc/pid/status: RssAnon
// is the heap, stacks and C allocations; RssFile mostly the binary's pages).
func rssSplit(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "RSS parts unknown"
	}
	var parts []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, k := range []string{"RssAnon:", "RssFile:"} {
			if v, ok := strings.CutPrefix(l, k); ok {
				kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
				parts = append(parts, fmt.Sprintf("%s %d MiB", strings.ToLower(strings.TrimSuffix(k[3:], ":")), kb>>10))
			}
		}
	}
	return strings.Join(parts, ", ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// sink is a local SMTP server that accepts and counts messages (the remote MX).
type sink struct {
	srv      *smtp.Server
	addr     string
	port     int
	received atomic.Int64
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct{ s *sink }

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	ss.s.received.Add(1)
	return nil
}
func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }

func startSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{addr: "127.0.0.1", port: l.Addr().(*net.TCPAddr).Port}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "sink.remote.bench"
	s.srv.AllowInsecureAuth = true
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *sink) Close() { _ = s.srv.Close() }

// startDNS serves MX remote.bench -> mx.remote.bench -> ip on a loopback UDP port.
func startDNS(domain, ip string) (addr string, stop func(), err error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch {
		case q.Qtype == dns.TypeMX && strings.EqualFold(q.Name, domain+"."):
			m.Answer = append(m.Answer, &dns.MX{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 60}, Preference: 10, Mx: "mx." + domain + "."})
		case q.Qtype == dns.TypeA && strings.EqualFold(q.Name, "mx."+domain+"."):
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)})
		case strings.EqualFold(q.Name, domain+".") || strings.EqualFold(q.Name, "mx."+domain+"."):
			// name exists, no records of this type
		default:
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go func() { _ = srv.ActivateAndServe() }()
	return pc.LocalAddr().String(), func() { _ = srv.Shutdown() }, nil
}
