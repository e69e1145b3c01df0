package smtpclient_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/queue"
	"mailgrid/internal/smtpclient"
	"mailgrid/internal/smtpclient/smtptest"
	"mailgrid/internal/testkit/dnsserver"
)

// stsWorld is dest.test with MX mx1.dest.test on a sink, an HTTPS policy host
// mta-sts.dest.test, certificates for both trusted by the client, and a client with
// MTA-STS on.
type stsWorld struct {
	d       *dnsserver.Server
	c       *smtpclient.Client
	sink    *smtptest.Sink
	mu      sync.Mutex
	policy  string // "" answers 404
	fetches int
}

func (w *stsWorld) setPolicy(id, policy string) {
	w.mu.Lock()
	w.policy = policy
	w.mu.Unlock()
	w.d.SetTXT("_mta-sts.dest.test", "v=STSv1; id="+id)
}

func (w *stsWorld) fetched() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fetches
}

// newSTSWorld starts the world; sinkOpt shapes the MX (its certificate is set to a
// trusted one for mx1.dest.test when trusted is true).
func newSTSWorld(t *testing.T, sinkOpt smtptest.Options, trusted bool) *stsWorld {
	t.Helper()
	w := &stsWorld{}
	mxCert, stsCert := smtptest.SelfSigned(t, "mx1.dest.test"), smtptest.SelfSigned(t, "mta-sts.dest.test")
	pool := x509.NewCertPool()
	for _, c := range []tls.Certificate{mxCert, stsCert} {
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		pool.AddCert(leaf)
	}
	if trusted {
		sinkOpt.Certificate = &mxCert
	}
	w.sink = smtptest.Start(t, sinkOpt)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if r.URL.Path != "/.well-known/mta-sts.txt" || r.Host != "mta-sts.dest.test" || w.policy == "" {
			http.NotFound(rw, r)
			return
		}
		w.fetches++
		rw.Header().Set("Content-Type", "text/plain")
		if _, err := io.WriteString(rw, w.policy); err != nil {
			t.Error(err)
		}
	}))
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{stsCert}}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	_, port, _ := net.SplitHostPort(hs.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	w.d, w.c = setup(t, w.sink, func(o *smtpclient.Options) {
		o.TLSConfig = &tls.Config{RootCAs: pool}
		o.MTASTS = &smtpclient.MTASTSOptions{Port: p, Timeout: 20 * time.Second}
	})
	w.d.SetMX("dest.test", "mx1.dest.test", 10)
	w.d.SetA("mx1.dest.test", "127.0.0.1")
	w.d.SetA("mta-sts.dest.test", "127.0.0.1")
	return w
}

func (w *stsWorld) deliver(t *testing.T) error {
	t.Helper()
	res, err := w.c.Deliver(t.Context(), "dest.test", queue.Envelope{From: "a@sender.test"}, rcpts("b@dest.test"), body(msg))
	if err == nil && !res[0].Delivered() {
		t.Fatalf("results %+v", res)
	}
	return err
}

// tempSTS checks err is the temporary 4.7.5 of a policy refusal.
func tempSTS(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("delivered, want a temporary MTA-STS failure")
	}
	if de := deliveryErr(t, err); !de.Temporary || de.Reply.Enhanced != "4.7.5" {
		t.Fatalf("error %+v, want temporary 4.7.5", de)
	}
}

const enforceMX1 = "version: STSv1\r\nmode: enforce\r\nmx: mx1.dest.test\r\nmax_age: 86400\r\n"

// TestMTASTSEnforce: with an enforced policy naming the MX, mail goes over verified
// TLS; the policy is fetched once and kept while the TXT id stays; a new id fetches the
// new policy, and a policy that names no MX of the domain defers (4.7.5, nothing sent);
// a wildcard pattern matches.
func TestMTASTSEnforce(t *testing.T) {
	w := newSTSWorld(t, smtptest.Options{}, true)
	w.setPolicy("1", enforceMX1)
	for range 2 {
		if err := w.deliver(t); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.sink.Delivered(); len(got) != 2 || !got[0].TLS || !got[1].TLS {
		t.Fatalf("sink got %+v", got)
	}
	if n := w.fetched(); n != 1 {
		t.Errorf("policy fetched %d times, want 1 (cached under the same id)", n)
	}
	w.setPolicy("2", "version: STSv1\nmode: enforce\nmx: *.other.test\nmax_age: 86400\n")
	tempSTS(t, w.deliver(t))
	if n := len(w.sink.Messages()); n != 2 {
		t.Errorf("the sink saw %d transactions, want 2: the refused MX was not contacted", n)
	}
	w.setPolicy("3", "version: STSv1\nmode: enforce\nmx: other.test\nmx: *.dest.test\nmax_age: 86400\n")
	if err := w.deliver(t); err != nil {
		t.Fatalf("wildcard policy: %v", err)
	}
	if n := w.fetched(); n != 3 {
		t.Errorf("policy fetched %d times, want 3", n)
	}
}

// TestMTASTSRequiresTLS: under an enforced policy an MX without STARTTLS, or with a
// certificate that does not verify, is not used (4.7.5, no plaintext fallback); the same
// MX under a testing policy gets the mail.
func TestMTASTSRequiresTLS(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  smtptest.Options
	}{{"no STARTTLS", smtptest.Options{}}, {"untrusted certificate", smtptest.Options{TLS: true}}, {"broken TLS", smtptest.Options{BrokenTLS: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newSTSWorld(t, tc.opt, false)
			w.setPolicy("1", enforceMX1)
			tempSTS(t, w.deliver(t))
			if got := w.sink.Delivered(); len(got) != 0 {
				t.Fatalf("delivered under enforce: %+v", got)
			}
			w.setPolicy("2", "version: STSv1\nmode: testing\nmx: mx1.dest.test\nmax_age: 86400\n")
			if err := w.deliver(t); err != nil {
				t.Fatalf("testing mode: %v", err)
			}
			if got := w.sink.Delivered(); len(got) != 1 {
				t.Fatalf("testing mode: sink got %d", len(got))
			}
		})
	}
}

// TestMTASTSNoPolicy: no TXT record means no fetch and plain opportunistic delivery; a
// TXT record whose policy cannot be fetched (404) is as no policy (RFC 8461 5); mode
// none too; once a policy is cached, a failed refetch keeps it.
func TestMTASTSNoPolicy(t *testing.T) {
	w := newSTSWorld(t, smtptest.Options{}, false)
	if err := w.deliver(t); err != nil || w.fetched() != 0 {
		t.Fatalf("no TXT: %v, %d fetches", err, w.fetched())
	}
	w.setPolicy("1", "")
	if err := w.deliver(t); err != nil {
		t.Fatalf("unfetchable policy: %v", err)
	}
	w.setPolicy("2", "version: STSv1\nmode: none\nmax_age: 86400\n")
	if err := w.deliver(t); err != nil {
		t.Fatalf("mode none: %v", err)
	}
	w.setPolicy("3", enforceMX1)
	tempSTS(t, w.deliver(t)) // plaintext sink, enforced policy
	w.setPolicy("4", "")     // the policy host fails now: the cached policy stays in force
	tempSTS(t, w.deliver(t))
	if got := w.sink.Delivered(); len(got) != 3 {
		t.Fatalf("sink got %d, want 3", len(got))
	}
}

// TestParsePolicy: RFC 8461 3.2 syntax and 4.1 matching.
func TestParsePolicy(t *testing.T) {
	p, err := smtpclient.ParsePolicy("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com.\r\nmax_age: 604800\r\nfuture: ignored\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != "enforce" || len(p.MX) != 3 || p.MaxAge != 7*24*time.Hour {
		t.Fatalf("%+v", p)
	}
	for host, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "backupmx.example.com": true,
		"mx1.example.net": true, "example.net": false, "a.b.example.net": false, "other.example.com": false,
	} {
		if got := p.Matches(host); got != want {
			t.Errorf("Matches(%q) = %v", host, got)
		}
	}
	if p, err := smtpclient.ParsePolicy("version: STSv1\nmode: testing\nmx: a.test\nmax_age: 99999999999\n"); err == nil || p.MaxAge != 0 {
		t.Errorf("an 11-digit max_age: %+v %v", p, err)
	}
	for _, bad := range []string{
		"", "mode: enforce\nmx: a.test\nmax_age: 1\n", "version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n",
		"version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n", "version: STSv1\nmode: enforce\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.test\n", "version: STSv1\nmode enforce\n",
	} {
		if _, err := smtpclient.ParsePolicy(bad); err == nil {
			t.Errorf("ParsePolicy(%q) accepted", bad)
		}
	}
}
