package smtpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"mailgrid/internal/dns"
)

// Outbound MTA-STS (RFC 8461): a destination domain that publishes a policy tells
// senders which MX hosts are its own and that they speak TLS with a valid certificate.
//
// Before routing, Deliver asks for the domain's policy (stsPolicy):
//
//  1. TXT _mta-sts.DOMAIN (RFC 8461 3.1): no "v=STSv1" record, or a lookup failure,
//     means no policy unless one is cached; a record whose id equals the cached
//     policy's id keeps the cached one (no fetch).
//  2. Otherwise GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt (3.3): the
//     certificate must verify for that name, redirects are not followed, only 200 with
//     text/plain counts, at most 64 KiB, within MTASTSOptions.Timeout. A fetch that
//     fails leaves the cached policy in force, or none (RFC 8461 5: deliver as though
//     the domain had no policy).
//  3. The policy is cached per node, in memory, for its max_age (at most one year).
//
// Then, mode "enforce" (RFC 8461 5, 4.1, 4.2): only MX hosts that match the policy's
// mx patterns are tried, and each session must use STARTTLS with a certificate that
// verifies for the MX name; a host that offers no STARTTLS, fails the handshake or shows
// an invalid certificate is skipped (no plaintext fallback). No MX left is a temporary
// failure (4.7.5): the policy may change, the queue retries. Mode "testing" delivers as
// before and logs what enforce would have refused; "none" is no policy. Reporting
// (TLSRPT, RFC 8460) is not done.

// MTASTSOptions turn outbound MTA-STS on (Options.MTASTS).
type MTASTSOptions struct {
	Port    int           // HTTPS port of the policy hosts, default 443 (tests change it)
	Timeout time.Duration // one policy fetch, default 30s
	Now     func() time.Time
	// MaxEntries bounds the policy cache; default 10,000 (an arbitrary entry is dropped
	// when full).
	MaxEntries int
}

// Policy is a parsed MTA-STS policy (RFC 8461 3.2).
type Policy struct {
	Mode   string // enforce, testing, none
	MX     []string
	MaxAge time.Duration
}

// maxPolicyBytes bounds the policy body (RFC 8461 3.3: 64 KiB).
const maxPolicyBytes = 64 << 10

// maxPolicyAge is the longest max_age honoured (RFC 8461 3.2: 31557600 s).
const maxPolicyAge = 31557600 * time.Second

// ParsePolicy parses the policy text (RFC 8461 3.2: "key: value" lines, CRLF or LF).
// version STSv1, a mode and max_age are required, and mx unless the mode is none.
func ParsePolicy(text string) (Policy, error) {
	var p Policy
	version, age := "", -1
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return p, fmt.Errorf("mta-sts: line %q is not key: value", line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "version":
			version = v
		case "mode":
			p.Mode = v
		case "mx":
			p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
		case "max_age":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || len(v) > 10 {
				return p, fmt.Errorf("mta-sts: max_age %q", v)
			}
			age = n
		} // other keys are extensions: ignored (RFC 8461 3.2)
	}
	switch {
	case version != "STSv1":
		return p, fmt.Errorf("mta-sts: version %q", version)
	case p.Mode != "enforce" && p.Mode != "testing" && p.Mode != "none":
		return p, fmt.Errorf("mta-sts: mode %q", p.Mode)
	case age < 0:
		return p, errors.New("mta-sts: no max_age")
	case len(p.MX) == 0 && p.Mode != "none":
		return p, errors.New("mta-sts: no mx")
	}
	p.MaxAge = min(time.Duration(age)*time.Second, maxPolicyAge)
	return p, nil
}

// Matches reports whether MX host name matches one of the policy's mx patterns (RFC
// 8461 4.1): equal, or "*.example.com" matching one more label on the left.
func (p Policy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, m := range p.MX {
		if rest, ok := strings.CutPrefix(m, "*."); ok {
			if label, parent, found := strings.Cut(host, "."); found && label != "" && parent == rest {
				return true
			}
			continue
		}
		if m == host {
			return true
		}
	}
	return false
}

// stsCache keeps fetched policies by domain.
type stsCache struct {
	mu sync.Mutex
	m  map[string]stsEntry
}

type stsEntry struct {
	id      string
	policy  Policy
	expires time.Time
}

func (c *Client) stsNow() time.Time {
	if c.opt.MTASTS.Now != nil {
		return c.opt.MTASTS.Now()
	}
	return time.Now()
}

func (c *Client) cached(domain string) (stsEntry, bool) {
	c.sts.mu.Lock()
	defer c.sts.mu.Unlock()
	e, ok := c.sts.m[domain]
	if ok && !c.stsNow().Before(e.expires) {
		delete(c.sts.m, domain)
		return stsEntry{}, false
	}
	return e, ok
}

func (c *Client) remember(domain string, e stsEntry) {
	c.sts.mu.Lock()
	defer c.sts.mu.Unlock()
	if c.sts.m == nil {
		c.sts.m = map[string]stsEntry{}
	}
	if _, ok := c.sts.m[domain]; !ok && len(c.sts.m) >= c.opt.MTASTS.MaxEntries {
		for k := range c.sts.m {
			delete(c.sts.m, k) // an arbitrary one
			break
		}
	}
	c.sts.m[domain] = e
}

// stsPolicy returns the policy in force for domain, nil for none (MTA-STS off, no
// policy, mode none).
func (c *Client) stsPolicy(ctx context.Context, domain string) *Policy {
	if c.opt.MTASTS == nil {
		return nil
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	cached, have := c.cached(domain)
	id, err := c.stsID(ctx, domain)
	switch {
	case err != nil:
		if have {
			return active(cached.policy)
		}
		if !errors.Is(err, dns.ErrNotFound) {
			c.log.Info("MTA-STS record lookup failed; no policy", slog.String("domain", domain), slog.Any("err", err))
		}
		return nil
	case have && cached.id == id:
		return active(cached.policy)
	}
	p, err := c.fetchPolicy(ctx, domain)
	if err != nil {
		c.log.Warn("MTA-STS policy not fetched", slog.String("domain", domain), slog.Bool("cached", have), slog.Any("err", err))
		if have {
			return active(cached.policy)
		}
		return nil
	}
	c.remember(domain, stsEntry{id: id, policy: p, expires: c.stsNow().Add(p.MaxAge)})
	return active(p)
}

func active(p Policy) *Policy {
	if p.Mode == "none" {
		return nil
	}
	return &p
}

// stsID returns the id of domain's "v=STSv1" TXT record (RFC 8461 3.1); ErrNotFound
// when there is none (or more than one, which the RFC treats as none).
func (c *Client) stsID(ctx context.Context, domain string) (string, error) {
	txts, err := c.opt.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, t := range txts {
		if !strings.HasPrefix(t, "v=STSv1;") && t != "v=STSv1" {
			continue
		}
		for _, field := range strings.Split(t, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(field), "id="); ok {
				ids = append(ids, v)
			}
		}
	}
	if len(ids) != 1 || ids[0] == "" {
		return "", dns.ErrNotFound
	}
	return ids[0], nil
}

// fetchPolicy fetches and parses https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC
// 8461 3.3), resolving the name through our resolver.
func (c *Client) fetchPolicy(ctx context.Context, domain string) (Policy, error) {
	host := "mta-sts." + domain
	ctx, cancel := context.WithTimeout(ctx, c.opt.MTASTS.Timeout)
	defer cancel()
	var cfg *tls.Config
	if c.opt.TLSConfig != nil {
		cfg = c.opt.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	cfg.ServerName, cfg.InsecureSkipVerify, cfg.VerifyConnection = host, false, nil
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true, ForceAttemptHTTP2: false,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			ips, err := c.opt.Resolver.LookupIP(ctx, host)
			if err != nil {
				return nil, err
			}
			var last error
			for _, ip := range usableAddrs(ips, false) {
				conn, err := c.opt.Dial(ctx, network, net.JoinHostPort(ip.String(), strconv.Itoa(c.opt.MTASTS.Port)))
				if err == nil {
					return conn, nil
				}
				last = err
			}
			if last == nil {
				last = fmt.Errorf("no usable address for %s", host)
			}
			return nil, last
		}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // RFC 8461 3.3: redirects are not followed
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return Policy{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Policy{}, err
	}
	defer func() {
		if err := resp.Body.Close(); err != nil {
			c.log.Debug("MTA-STS policy body close", slog.Any("err", err))
		}
	}()
	if resp.StatusCode != http.StatusOK {
		return Policy{}, fmt.Errorf("GET %s: %s", req.URL, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "text/plain") {
		return Policy{}, fmt.Errorf("GET %s: content type %q, want text/plain", req.URL, ct)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicyBytes+1))
	if err != nil {
		return Policy{}, err
	}
	if len(b) > maxPolicyBytes {
		return Policy{}, fmt.Errorf("GET %s: policy over 64 KiB", req.URL)
	}
	return ParsePolicy(string(b))
}

// applySTS keeps the MX hosts the policy allows (enforce) or logs the ones it would
// not (testing).
func (c *Client) applySTS(domain string, p *Policy, hops []hop) ([]hop, error) {
	var kept []hop
	for _, h := range hops {
		if p.Matches(h.name) {
			kept = append(kept, h)
			continue
		}
		c.log.Warn("MX host not in the MTA-STS policy", slog.String("domain", domain), slog.String("host", h.name),
			slog.String("mode", p.Mode))
	}
	if p.Mode != "enforce" {
		return hops, nil
	}
	if len(kept) == 0 {
		return nil, tempErr("4.7.5", fmt.Sprintf("no MX host of %s matches its MTA-STS policy (RFC 8461 4.1)", domain), nil)
	}
	return kept, nil
}

func (o *MTASTSOptions) setDefaults() {
	if o.Port == 0 {
		o.Port = 443
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 10000
	}
}

// checkSTS applies the MTA-STS policy to a session after its prelude (RFC 8461 4.2): in
// enforce mode a plaintext session, or one whose certificate does not verify for the
// MX name, is not used (the next address is tried); in testing mode it is logged.
func (c *Client) checkSTS(tx *txn, host string, p *preludeResult, log *slog.Logger) error {
	if tx.sts == nil || p.tls && p.verified {
		return nil
	}
	what := "no STARTTLS"
	if p.tls {
		what = "a certificate that does not verify for " + host
	}
	if !tx.requireTLS() {
		log.Warn("MTA-STS testing: the session would be refused in enforce mode", slog.String("why", what))
		return nil
	}
	return nextHost(tempErr("4.7.5", host+" offers "+what+", but the MTA-STS policy requires verified TLS", nil))
}
