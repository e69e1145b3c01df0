package smtptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	mdns "github.com/miekg/dns"

	"mailgrid/internal/dns"
)

// DNS is an authoritative DNS server on loopback (github.com/miekg/dns over UDP) serving
// the MX and A records a test sets, and a dns.Resolver that queries it through Go's own
// stub resolver. It stands in until internal/testkit/dnsserver and dns.New land; its
// API follows theirs (SetMX, SetA, SetServFail).
type DNS struct {
	addr string

	mu       sync.Mutex
	mx       map[string][]*mdns.MX
	a        map[string][]net.IP
	servfail map[string]bool
}

// StartDNS starts the server and stops it when the test ends.
func StartDNS(t *testing.T) *DNS {
	t.Helper()
	d := &DNS{mx: map[string][]*mdns.MX{}, a: map[string][]net.IP{}, servfail: map[string]bool{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.addr = pc.LocalAddr().String()
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(d.serve)}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("dns shutdown: %v", err)
		}
		<-done
	})
	return d
}

// Addr is the server's UDP address.
func (d *DNS) Addr() string { return d.addr }

// SetMX adds an MX record; host "." publishes a null MX (RFC 7505).
func (d *DNS) SetMX(domain, host string, pref uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name := mdns.Fqdn(domain)
	d.mx[name] = append(d.mx[name], &mdns.MX{
		Hdr:        mdns.RR_Header{Name: name, Rrtype: mdns.TypeMX, Class: mdns.ClassINET, Ttl: 60},
		Preference: pref, Mx: mdns.Fqdn(host),
	})
}

// SetA sets the A records of host.
func (d *DNS) SetA(host string, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var list []net.IP
	for _, ip := range ips {
		list = append(list, net.ParseIP(ip))
	}
	d.a[mdns.Fqdn(host)] = list
}

// SetServFail makes every query for name fail with SERVFAIL.
func (d *DNS) SetServFail(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.servfail[mdns.Fqdn(name)] = true
}

func (d *DNS) serve(w mdns.ResponseWriter, req *mdns.Msg) {
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	d.mu.Lock()
	for _, q := range req.Question {
		name := strings.ToLower(q.Name)
		if d.servfail[name] {
			m.Rcode = mdns.RcodeServerFailure
			continue
		}
		_, hasMX := d.mx[name]
		_, hasA := d.a[name]
		if !hasMX && !hasA {
			m.Rcode = mdns.RcodeNameError
			continue
		}
		switch q.Qtype {
		case mdns.TypeMX:
			for _, rr := range d.mx[name] {
				m.Answer = append(m.Answer, rr)
			}
		case mdns.TypeA:
			for _, ip := range d.a[name] {
				m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: ip.To4()})
			}
		}
	}
	d.mu.Unlock()
	if err := w.WriteMsg(m); err != nil {
		fmt.Println("smtptest dns: write:", err)
	}
}

// Resolver returns a dns.Resolver that asks this server only.
func (d *DNS) Resolver() dns.Resolver {
	var dialer net.Dialer
	return &resolver{r: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, "udp", d.addr)
	}}}
}

type resolver struct{ r *net.Resolver }

func (r *resolver) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	mxs, err := r.r.LookupMX(ctx, mdns.Fqdn(domain))
	if len(mxs) == 0 && err == nil {
		err = &net.DNSError{Err: "no MX", Name: domain, IsNotFound: true}
	}
	return mxs, mapErr(err)
}

func (r *resolver) LookupIP(ctx context.Context, host string) ([]net.IP, error) {
	ips, err := r.r.LookupIP(ctx, "ip", mdns.Fqdn(host))
	return ips, mapErr(err)
}

func (r *resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txt, err := r.r.LookupTXT(ctx, mdns.Fqdn(name))
	return txt, mapErr(err)
}

func mapErr(err error) error {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return fmt.Errorf("%w: %v", dns.ErrNotFound, err)
	}
	return err
}
