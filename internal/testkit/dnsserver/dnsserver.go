// Package dnsserver is a real, authoritative DNS server on loopback for tests: UDP and TCP
// on one 127.0.0.1 port, answering from records the test sets (MX, A, AAAA, TXT), NXDOMAIN
// for names it does not know and SERVFAIL where asked. Point a resolver at Addr() (for
// mailgrid: dns.New([]string{srv.Addr()}, timeout)); nothing leaves the machine.
//
// Model: records live in a map keyed by the lower-case fully qualified name, guarded by a
// mutex, so tests may change them while clients query. A name with no record of the asked
// type but some other record answers NOERROR with no answers (NODATA, RFC 2308 2.2). UDP
// replies larger than the client's buffer (512 octets, or its EDNS0 size) are truncated
// with TC set, so clients retry over TCP (RFC 7766 5) as they would against a real server.
//
// Library: github.com/miekg/dns, the standard Go DNS server/message library.
package dnsserver

import (
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server is a running test DNS server.
type Server struct {
	addr string
	udp  *dns.Server
	tcp  *dns.Server

	mu       sync.Mutex
	names    map[string]*records
	count    int   // queries answered
	writeErr error // first failure to send a reply, reported when the test ends
}

type records struct {
	mx       []*dns.MX
	a        []net.IP
	aaaa     []net.IP
	txt      [][]string
	servFail bool
}

// Start starts a server on a free 127.0.0.1 port (UDP and TCP) and stops it when the test
// ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{names: map[string]*records{}}
	pc, l, err := listenPair()
	if err != nil {
		t.Fatalf("dnsserver: %v", err)
	}
	s.addr = pc.LocalAddr().String()
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: l, Handler: s}
	var wg sync.WaitGroup
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.ActivateAndServe(); err != nil {
				t.Errorf("dnsserver: serve: %v", err)
			}
		}()
		<-started
	}
	t.Cleanup(func() {
		s.mu.Lock()
		if s.writeErr != nil {
			t.Logf("dnsserver: a reply could not be sent: %v", s.writeErr)
		}
		s.mu.Unlock()
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			if err := srv.Shutdown(); err != nil {
				t.Errorf("dnsserver: shutdown: %v", err)
			}
		}
		wg.Wait()
	})
	return s
}

// listenPair binds UDP on a free port and TCP on the same port, retrying a few times in
// case another process holds the TCP side.
func listenPair() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		lastErr = err
		if cerr := pc.Close(); cerr != nil {
			return nil, nil, errors.Join(err, cerr)
		}
	}
	return nil, nil, lastErr
}

// Addr returns "127.0.0.1:port", the address for both UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Queries returns the number of queries answered so far.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// entry returns the records of name, creating them. Callers hold s.mu.
func (s *Server) entry(name string) *records {
	key := dns.CanonicalName(name)
	r := s.names[key]
	if r == nil {
		r = &records{}
		s.names[key] = r
	}
	return r
}

// SetMX adds an MX record for domain (or changes the preference of an existing one with
// the same host). Host "." with preference 0 is a null MX (RFC 7505).
func (s *Server) SetMX(domain, host string, pref uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.entry(domain)
	target := dns.Fqdn(host) // keep the case as published: clients must compare case-insensitively
	for _, mx := range r.mx {
		if mx.Mx == target {
			mx.Preference = pref
			return
		}
	}
	r.mx = append(r.mx, &dns.MX{Preference: pref, Mx: target})
}

// SetA replaces the addresses of host: IPv4 forms become A records, IPv6 forms AAAA. It
// panics on a string that is not an IP address (a bug in the test).
func (s *Server) SetA(host string, ips ...string) {
	var a, aaaa []net.IP
	for _, v := range ips {
		ip := net.ParseIP(v)
		switch {
		case ip == nil:
			panic("dnsserver: SetA: not an IP address: " + v)
		case ip.To4() != nil:
			a = append(a, ip.To4())
		default:
			aaaa = append(aaaa, ip)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.entry(host)
	r.a, r.aaaa = a, aaaa
}

// SetTXT replaces the TXT records of name, one record per string. Strings longer than
// 255 octets are split into several character-strings of one record (RFC 7208 3.3).
func (s *Server) SetTXT(name string, txt ...string) {
	recs := make([][]string, 0, len(txt))
	for _, v := range txt {
		var chunks []string
		for len(v) > 255 {
			chunks, v = append(chunks, v[:255]), v[255:]
		}
		recs = append(recs, append(chunks, v))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entry(name).txt = recs
}

// SetServFail makes every query for name answer SERVFAIL until Reset.
func (s *Server) SetServFail(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entry(name).servFail = true
}

// Reset forgets everything about name: it answers NXDOMAIN again.
func (s *Server) Reset(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.names, dns.CanonicalName(name))
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	// Authoritative and recursion-available, as a resolver's upstream looks: Go's stub
	// resolver treats a reply with neither as a lame referral.
	resp.Authoritative = true
	resp.RecursionAvailable = true
	if len(req.Question) == 1 {
		s.answer(resp, req.Question[0])
	} else {
		resp.Rcode = dns.RcodeFormatError
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
		}
		resp.Truncate(size) // sets TC when the answer does not fit
	}
	if err := w.WriteMsg(resp); err != nil {
		// The client went away (a resolver that gave up). Keep the first such error for
		// the test log; the server itself is fine.
		s.mu.Lock()
		if s.writeErr == nil {
			s.writeErr = err
		}
		s.mu.Unlock()
	}
}

// answer fills resp for q from the records.
func (s *Server) answer(resp *dns.Msg, q dns.Question) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	r, ok := s.names[dns.CanonicalName(q.Name)]
	switch {
	case !ok:
		resp.Rcode = dns.RcodeNameError // NXDOMAIN
		return
	case r.servFail:
		resp.Rcode = dns.RcodeServerFailure
		return
	}
	hdr := func(typ uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: typ, Class: dns.ClassINET, Ttl: 60}
	}
	switch q.Qtype {
	case dns.TypeMX:
		for _, mx := range r.mx {
			resp.Answer = append(resp.Answer, &dns.MX{Hdr: hdr(dns.TypeMX), Preference: mx.Preference, Mx: mx.Mx})
		}
	case dns.TypeA:
		for _, ip := range r.a {
			resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: ip})
		}
	case dns.TypeAAAA:
		for _, ip := range r.aaaa {
			resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip})
		}
	case dns.TypeTXT:
		for _, txt := range r.txt {
			resp.Answer = append(resp.Answer, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: txt})
		}
	}
	// No answer of this type for a known name: NODATA (NOERROR, empty), RFC 2308 2.2.
}
