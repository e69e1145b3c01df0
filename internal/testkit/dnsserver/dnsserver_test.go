package dnsserver

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

// TestMain checks that servers stopped by t.Cleanup leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func query(t *testing.T, s *Server, net, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: net}
	resp, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s %s %s: %v", net, name, dns.TypeToString[qtype], err)
	}
	return resp
}

func TestAnswers(t *testing.T) {
	s := Start(t)
	s.SetMX("Example.COM", "mx1.example.com", 10)
	s.SetMX("example.com", "mx2.example.com.", 20)
	s.SetMX("example.com", "mx1.example.com", 5) // update, not a third record
	s.SetA("mx1.example.com", "192.0.2.1", "2001:db8::1")
	s.SetTXT("example.com", "v=spf1 -all")
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			r := query(t, s, network, "EXAMPLE.com", dns.TypeMX)
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 {
				t.Fatalf("MX: rcode %s, %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			if mx := r.Answer[0].(*dns.MX); mx.Mx != "mx1.example.com." || mx.Preference != 5 {
				t.Fatalf("MX answer %v", mx)
			}
			if r := query(t, s, network, "mx1.example.com", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
				t.Fatalf("A: %v", r.Answer)
			}
			if r := query(t, s, network, "mx1.example.com", dns.TypeAAAA); len(r.Answer) != 1 || r.Answer[0].(*dns.AAAA).AAAA.String() != "2001:db8::1" {
				t.Fatalf("AAAA: %v", r.Answer)
			}
			if r := query(t, s, network, "example.com", dns.TypeTXT); len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != "v=spf1 -all" {
				t.Fatalf("TXT: %v", r.Answer)
			}
			// NODATA: known name, no record of the type.
			if r := query(t, s, network, "example.com", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
				t.Fatalf("NODATA: rcode %s, %v", dns.RcodeToString[r.Rcode], r.Answer)
			}
			if r := query(t, s, network, "unknown.example", dns.TypeMX); r.Rcode != dns.RcodeNameError {
				t.Fatalf("unknown name: rcode %s", dns.RcodeToString[r.Rcode])
			}
		})
	}
}

func TestServFailAndReset(t *testing.T) {
	s := Start(t)
	s.SetA("host.example", "192.0.2.5")
	s.SetServFail("host.example")
	if r := query(t, s, "udp", "host.example", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	s.Reset("host.example")
	if r := query(t, s, "udp", "host.example", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Fatalf("after Reset: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
}

func TestTruncationOverUDP(t *testing.T) {
	s := Start(t)
	long := strings.Repeat("a", 600) // split into 255-octet character-strings
	var many []string
	for i := range 10 {
		many = append(many, fmt.Sprintf("%d-%s", i, strings.Repeat("x", 100)))
	}
	s.SetTXT("big.example", many...)
	s.SetTXT("long.example", long)
	if r := query(t, s, "udp", "big.example", dns.TypeTXT); !r.Truncated {
		t.Fatalf("UDP answer of %d records not truncated", len(r.Answer))
	}
	if r := query(t, s, "tcp", "big.example", dns.TypeTXT); r.Truncated || len(r.Answer) != 10 {
		t.Fatalf("TCP: truncated %v, %d records", r.Truncated, len(r.Answer))
	}
	r := query(t, s, "tcp", "long.example", dns.TypeTXT)
	txt := r.Answer[0].(*dns.TXT).Txt
	if len(txt) != 3 || strings.Join(txt, "") != long {
		t.Fatalf("long TXT as %d strings", len(txt))
	}
}

// TestConcurrent changes records while clients query (run with -race).
func TestConcurrent(t *testing.T) {
	s := Start(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 25 {
				s.SetA(fmt.Sprintf("h%d.example", i), fmt.Sprintf("192.0.2.%d", j+1))
				s.SetMX("example.com", fmt.Sprintf("mx%d.example.com", i), uint16(j))
			}
		}()
	}
	for range 25 {
		if r := query(t, s, "udp", "example.com", dns.TypeMX); r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
			t.Fatalf("rcode %s", dns.RcodeToString[r.Rcode])
		}
	}
	wg.Wait()
	if r := query(t, s, "tcp", "example.com", dns.TypeMX); len(r.Answer) != 4 {
		t.Fatalf("%d MX records after concurrent updates, want 4", len(r.Answer))
	}
	if s.Queries() < 26 {
		t.Fatalf("Queries() = %d", s.Queries())
	}
}
