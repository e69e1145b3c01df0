// Package config defines mailgrid's configuration: one TOML file (optional) whose every key
// has a default, so `mailgrid serve` runs with no file at all. Unknown keys are an error, so a
// typo never silently falls back to a default. docs/config.md documents every key; a test
// keeps that page and this file in step.
//
// The [cluster] section picks the shape: without cluster.directory the node is the embedded
// single node (everything in the data directory); with it, the node joins a cluster whose
// directory, shard and node registries and outbound queue live in that PostgreSQL
// database, and node.name tells the nodes apart. The data directory then only holds the
// node's spool and self-signed certificate.
//
// The file is decoded with github.com/BurntSushi/toml (MetaData.Undecoded reports unknown keys).
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"mailgrid/internal/mail"
)

// Config is the whole configuration of a node.
type Config struct {
	Data     string   `toml:"data"`     // data directory of the embedded shape
	Hostname string   `toml:"hostname"` // EHLO/greeting name, Received "by", DSN Reporting-MTA
	Listen   Listen   `toml:"listen"`
	TLS      TLS      `toml:"tls"`
	DNS      DNS      `toml:"dns"`
	SMTP     SMTP     `toml:"smtp"`
	Outbound Outbound `toml:"outbound"`
	Queue    Queue    `toml:"queue"`
	Log      Log      `toml:"log"`
	Cluster  Cluster  `toml:"cluster"`
	Node     Node     `toml:"node"`
	Filter   Filter   `toml:"filter"`
	HTTP     HTTP     `toml:"http"`
	SMS      SMS      `toml:"sms"`
	Fetch    Fetch    `toml:"fetch"`
	Admin    Admin    `toml:"admin"`
}

// HTTP configures the web front-end (JSON API and admin console) on listen.http.
type HTTP struct {
	AssetsDir      string   `toml:"assets_dir"`      // npm install directory holding htmx; "" = pages without htmx
	SecureCookies  bool     `toml:"secure_cookies"`  // behind a proxy that terminates TLS
	TrustedOrigins []string `toml:"trusted_origins"` // extra origins allowed to post (a proxy's host name)
	// MTASTSMode is the mode of the MTA-STS policy served at
	// https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC 8461 3.2): testing, enforce, none.
	MTASTSMode string `toml:"mta_sts_mode"`
}

// Filter configures the mail filters (docs/mailets.md): SPF/DKIM/DMARC always run on mail
// from the Internet; the virus scanner and rspamd run when their address is set; each
// account's Bayes classifier and Sieve script run at local delivery.
type Filter struct {
	QuarantineRetention Duration `toml:"quarantine_retention"` // held mail older than this is deleted
	EnforceDMARC        bool     `toml:"enforce_dmarc"`        // reject on p=reject, Junk on p=quarantine
	Clamd               string   `toml:"clamd"`                // "unix:/path" or "tcp:host:port"; "" = no virus scan
	ClamdTimeout        Duration `toml:"clamd_timeout"`
	ClamdFailOpen       bool     `toml:"clamd_fail_open"` // scanner down: deliver tagged instead of 451
	Rspamd              string   `toml:"rspamd"`          // "http://127.0.0.1:11333"; "" = none
	RspamdTimeout       Duration `toml:"rspamd_timeout"`
	// BlockLists runs the block lists (connect, MAIL, RCPT) and the domain rules (DATA)
	// kept in the filter state and edited by administrators.
	BlockLists bool `toml:"block_lists"`
	// JunkTraining trains each account's Bayes classifier when the user moves mail into
	// or out of the Junk mailbox or sets $Junk/$NotJunk.
	JunkTraining bool `toml:"junk_training"`
	// MessagesPerHour and RecipientsPerDay bound what one authenticated account may
	// send (451 4.7.1 past them; per node); 0 = unlimited.
	MessagesPerHour  int `toml:"messages_per_hour"`
	RecipientsPerDay int `toml:"recipients_per_day"`
	// SRSSecret keys the Sender Rewriting Scheme for redirected mail; "" = off (the
	// original sender is kept). Every node of a cluster needs the same secret.
	SRSSecret string     `toml:"srs_secret"`
	Milters   []Milter   `toml:"milter"`    // external milters, in order
	HTTPHooks []HTTPHook `toml:"http_hook"` // external HTTP hooks, in order
}

// Milter is one external filter speaking the milter protocol (docs/mailets.md).
type Milter struct {
	Name     string   `toml:"name"`      // in logs and X-Mailgrid-Filter-Failed
	Address  string   `toml:"address"`   // "unix:/path" or "tcp:host:port"
	Timeout  Duration `toml:"timeout"`   // the whole session; 0 = 30s
	FailOpen bool     `toml:"fail_open"` // unavailable: deliver tagged instead of 451
	Domain   string   `toml:"domain"`    // "" = every recipient domain
	// Stages are where its callbacks run: connect, mail, rcpt (a short session replaying
	// the transaction up to that command), data (the whole message). Empty = all four
	// (without connect for a milter of one domain).
	Stages []string `toml:"stages"`
}

// HTTPHook is one external filter reached over HTTP (docs/mailets.md).
type HTTPHook struct {
	Name     string            `toml:"name"`
	URL      string            `toml:"url"`
	Stages   []string          `toml:"stages"` // connect, mail, rcpt, data; empty = data
	Timeout  Duration          `toml:"timeout"`
	FailOpen bool              `toml:"fail_open"`
	Domain   string            `toml:"domain"`  // "" = every domain (not with connect)
	Headers  map[string]string `toml:"headers"` // sent with each request (Authorization)
}

// Cluster selects the shape. An empty Directory is the embedded single node (SQLite in
// Data); a PostgreSQL DSN makes this node one of a cluster sharing that directory, its
// shard registry, node registry and outbound queue.
type Cluster struct {
	Directory string   `toml:"directory"`  // "postgres://user@host:5432/mailgrid_dir"; "" = embedded
	Heartbeat Duration `toml:"heartbeat"`  // node registry heartbeat and shard registry re-read
	DownAfter Duration `toml:"down_after"` // a node without a heartbeat this long is shown down
	// PublicAddresses are the nodes' public IP addresses for `dns records` (A/AAAA
	// round-robin) when the node registry has none (nodes listen on wildcard or private
	// addresses behind NAT or a load balancer).
	PublicAddresses []string `toml:"public_addresses"`
}

// Node names this node in a cluster.
type Node struct {
	// Name is unique in the cluster: the node registry key and the owner of queue leases.
	// "" means the machine's host name (see Config.NodeName).
	Name string `toml:"name"`
	// MemoryLimitBytes is a soft limit for the process's memory (the Go runtime's,
	// runtime/debug.SetMemoryLimit): near it the collector runs more often rather than
	// letting the heap grow to twice what is live. 0 = none set here (the GOMEMLIMIT
	// environment variable still applies).
	MemoryLimitBytes int64 `toml:"memory_limit_bytes"`
	// SQLiteHeapLimitBytes is the soft limit of the heap every SQLite database of the
	// process shares (internal/sqliteheap): past it SQLite recycles cached pages instead
	// of allocating. 0 = none.
	SQLiteHeapLimitBytes int64 `toml:"sqlite_heap_limit_bytes"`
}

// Listen holds listener addresses; "" disables a listener.
type Listen struct {
	SMTP        string `toml:"smtp"`        // MX (port 25 role)
	Submission  string `toml:"submission"`  // RFC 6409, STARTTLS
	Submissions string `toml:"submissions"` // RFC 8314, implicit TLS
	IMAP        string `toml:"imap"`
	IMAPS       string `toml:"imaps"`
	POP3        string `toml:"pop3"`
	POP3S       string `toml:"pop3s"`
	HTTP        string `toml:"http"`
	ManageSieve string `toml:"managesieve"` // RFC 5804, STARTTLS
}

// TLS names the certificate; both empty means a self-signed certificate kept in the data
// directory (created on first start).
type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// DNS configures the resolver.
type DNS struct {
	Servers []string `toml:"servers"` // "host:port"; empty = system resolver
	Timeout Duration `toml:"timeout"`
}

// SMTP holds limits of the SMTP servers (MX and submission).
type SMTP struct {
	MaxMessageBytes int64    `toml:"max_message_bytes"` // SIZE (RFC 1870)
	MaxRecipients   int      `toml:"max_recipients"`    // per transaction (RFC 5321 4.5.3.1.8: at least 100)
	MaxLineLength   int      `toml:"max_line_length"`   // command and text lines, octets incl. CRLF
	ReadTimeout     Duration `toml:"read_timeout"`
	WriteTimeout    Duration `toml:"write_timeout"`
	MaxConnsPerIP   int      `toml:"max_conns_per_ip"`
	MaxErrors       int      `toml:"max_errors"` // protocol errors before 421 and disconnect
	ShutdownGrace   Duration `toml:"shutdown_grace"`
}

// Outbound configures delivery to remote hosts.
type Outbound struct {
	SMTPPort       int      `toml:"smtp_port"` // remote MX port (25; tests use another)
	ConnectTimeout Duration `toml:"connect_timeout"`
	// MTASTS applies the MTA-STS policies (RFC 8461) of destination domains: in enforce
	// mode only their listed MX hosts, over verified TLS.
	MTASTS bool `toml:"mta_sts"`
}

// Queue configures retries and limits of the outbound queue.
type Queue struct {
	FirstRetry       Duration `toml:"first_retry"`        // backoff starts here and doubles
	MaxRetryInterval Duration `toml:"max_retry_interval"` // backoff cap
	Lifetime         Duration `toml:"lifetime"`           // give up (DSN) after this
	DelayWarning     Duration `toml:"delay_warning"`      // one "delayed" DSN after this; 0 disables
	Concurrency      int      `toml:"concurrency"`        // deliveries in flight in all
	PerDomain        int      `toml:"per_domain"`         // deliveries in flight per destination
	PollInterval     Duration `toml:"poll_interval"`
	// Lease is how long a node owns a queue item it is delivering; a node that dies
	// loses its items after this long and another node of the cluster delivers them. It
	// must exceed the longest delivery (SMTP timeouts, RFC 5321 4.5.3.2).
	Lease Duration `toml:"lease"`
}

// Log configures logging.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text, json
}

// Duration is a time.Duration written as "30s", "5m", "120h" in TOML.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default returns the configuration used when no file is given.
func Default() Config {
	return Config{
		Data:     "./data",
		Hostname: defaultHostname(),
		Listen: Listen{
			SMTP:        "127.0.0.1:2525",
			Submission:  "127.0.0.1:2587",
			Submissions: "127.0.0.1:2465",
			IMAP:        "127.0.0.1:1143",
			IMAPS:       "127.0.0.1:1993",
			POP3:        "127.0.0.1:1110",
			POP3S:       "127.0.0.1:1995",
			HTTP:        "127.0.0.1:8080",
			ManageSieve: "127.0.0.1:4190",
		},
		DNS:  DNS{Servers: []string{}, Timeout: Duration(5 * time.Second)},
		Node: Node{SQLiteHeapLimitBytes: 8 << 20},
		SMTP: SMTP{
			MaxMessageBytes: 50 << 20,
			MaxRecipients:   100,
			MaxLineLength:   4096,
			ReadTimeout:     Duration(5 * time.Minute),
			WriteTimeout:    Duration(5 * time.Minute),
			MaxConnsPerIP:   50,
			MaxErrors:       10,
			ShutdownGrace:   Duration(10 * time.Second),
		},
		Outbound: Outbound{SMTPPort: 25, ConnectTimeout: Duration(30 * time.Second), MTASTS: true},
		Queue: Queue{
			FirstRetry:       Duration(5 * time.Minute),
			MaxRetryInterval: Duration(4 * time.Hour),
			Lifetime:         Duration(5 * 24 * time.Hour),
			DelayWarning:     Duration(4 * time.Hour),
			Concurrency:      20,
			PerDomain:        4,
			PollInterval:     Duration(time.Second),
			Lease:            Duration(time.Hour),
		},
		Log:     Log{Level: "info", Format: "text"},
		Cluster: Cluster{Heartbeat: Duration(5 * time.Second), DownAfter: Duration(30 * time.Second), PublicAddresses: []string{}},
		HTTP:    HTTP{AssetsDir: "web/node_modules", TrustedOrigins: []string{}, MTASTSMode: "testing"},
		Filter: Filter{QuarantineRetention: Duration(30 * 24 * time.Hour), ClamdTimeout: Duration(2 * time.Minute),
			RspamdTimeout: Duration(20 * time.Second), BlockLists: true, JunkTraining: true},
		SMS:   defaultSMS(),
		Admin: defaultAdmin(),
	}
}

// defaultHostname is the machine's name when it is a domain name, else "localhost".
func defaultHostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	d, err := mail.ParseDomain(h)
	if err != nil {
		return "localhost"
	}
	return d
}

// Clustered reports whether this node is part of a cluster ([cluster] directory set).
func (c *Config) Clustered() bool { return c.Cluster.Directory != "" }

// NodeName is node.name, or the machine's host name when that is empty ("node" if the
// host name cannot be read).
func (c *Config) NodeName() string {
	if c.Node.Name != "" {
		return c.Node.Name
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "node"
	}
	return h
}

// Load reads path over the defaults. path "" returns the defaults.
func Load(path string) (Config, error) {
	c := Default()
	if path == "" {
		return c, c.Validate()
	}
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	return c, c.Validate()
}

// Validate checks values that would otherwise fail late.
func (c *Config) Validate() error {
	var errs []error
	if c.Node.MemoryLimitBytes < 0 {
		errs = append(errs, errors.New("node.memory_limit_bytes: must not be negative"))
	}
	if c.Node.SQLiteHeapLimitBytes < 0 {
		errs = append(errs, errors.New("node.sqlite_heap_limit_bytes: must not be negative"))
	}
	if c.Data == "" {
		errs = append(errs, errors.New("data: must not be empty"))
	}
	if h, err := mail.ParseDomain(c.Hostname); err != nil {
		errs = append(errs, fmt.Errorf("hostname %q: %v", c.Hostname, err))
	} else {
		c.Hostname = h
	}
	for name, addr := range map[string]string{
		"listen.smtp": c.Listen.SMTP, "listen.submission": c.Listen.Submission,
		"listen.submissions": c.Listen.Submissions, "listen.imap": c.Listen.IMAP,
		"listen.imaps": c.Listen.IMAPS, "listen.pop3": c.Listen.POP3,
		"listen.pop3s": c.Listen.POP3S, "listen.http": c.Listen.HTTP, "listen.managesieve": c.Listen.ManageSieve,
	} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %v", name, addr, err))
		}
	}
	for _, s := range c.DNS.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			errs = append(errs, fmt.Errorf("dns.servers %q: want host:port", s))
		}
	}
	switch c.HTTP.MTASTSMode {
	case "testing", "enforce", "none": // RFC 8461 3.2
	default:
		errs = append(errs, fmt.Errorf("http.mta_sts_mode %q: want testing, enforce or none", c.HTTP.MTASTSMode))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert_file and key_file go together"))
	}
	if c.Outbound.SMTPPort <= 0 || c.Outbound.SMTPPort > 65535 {
		errs = append(errs, fmt.Errorf("outbound.smtp_port %d: out of range", c.Outbound.SMTPPort))
	}
	if c.SMTP.MaxRecipients < 1 || c.SMTP.MaxMessageBytes < 1024 || c.SMTP.MaxLineLength < 1000 {
		errs = append(errs, errors.New("smtp: max_recipients >= 1, max_message_bytes >= 1024, max_line_length >= 1000"))
	}
	if c.Queue.FirstRetry <= 0 || c.Queue.MaxRetryInterval < c.Queue.FirstRetry || c.Queue.Lifetime <= 0 {
		errs = append(errs, errors.New("queue: first_retry > 0, max_retry_interval >= first_retry, lifetime > 0"))
	}
	if c.Queue.Concurrency < 1 || c.Queue.PerDomain < 1 || c.Queue.PollInterval <= 0 || c.Queue.Lease <= 0 {
		errs = append(errs, errors.New("queue: concurrency, per_domain >= 1, poll_interval and lease > 0"))
	}
	errs = append(errs, c.validateCluster()...)
	if f := c.Filter.Clamd; f != "" && !strings.HasPrefix(f, "unix:") && !strings.HasPrefix(f, "tcp:") {
		errs = append(errs, fmt.Errorf("filter.clamd %q: want unix:/path or tcp:host:port", f))
	}
	if f := c.Filter.Rspamd; f != "" && !strings.HasPrefix(f, "http://") && !strings.HasPrefix(f, "https://") {
		errs = append(errs, fmt.Errorf("filter.rspamd %q: want an http(s) URL", f))
	}
	if c.Filter.QuarantineRetention <= 0 {
		errs = append(errs, errors.New("filter.quarantine_retention must be > 0"))
	}
	errs = append(errs, c.validateExternalFilters()...)
	errs = append(errs, c.Admin.validate()...)
	errs = append(errs, c.SMS.validate()...)
	if c.Filter.MessagesPerHour < 0 || c.Filter.RecipientsPerDay < 0 {
		errs = append(errs, errors.New("filter: messages_per_hour and recipients_per_day must be >= 0 (0 = unlimited)"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: want debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: want text or json", c.Log.Format))
	}
	return errors.Join(errs...)
}

// validateCluster checks [cluster] and [node].
func (c *Config) validateCluster() []error {
	var errs []error
	if d := c.Cluster.Directory; d != "" && !strings.HasPrefix(d, "postgres://") &&
		!strings.HasPrefix(d, "postgresql://") && !strings.Contains(d, "=") {
		errs = append(errs, fmt.Errorf("cluster.directory: want a PostgreSQL URL (postgres://...) or key=value DSN"))
	}
	if c.Cluster.Heartbeat <= 0 || c.Cluster.DownAfter <= c.Cluster.Heartbeat {
		errs = append(errs, errors.New("cluster: heartbeat > 0 and down_after > heartbeat"))
	}
	for _, a := range c.Cluster.PublicAddresses {
		if _, err := netip.ParseAddr(a); err != nil {
			errs = append(errs, fmt.Errorf("cluster.public_addresses: %q is not an IP address", a))
		}
	}
	if !validNodeName(c.Node.Name) {
		errs = append(errs, fmt.Errorf("node.name %q: 1 to 253 letters, digits, '.', '-' or '_'", c.Node.Name))
	}
	return errs
}

// validNodeName accepts "" (the host name) and the node registry's name syntax.
func validNodeName(n string) bool {
	if len(n) > 253 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// validateExternalFilters checks [[filter.milter]] and [[filter.http_hook]].
func (c *Config) validateExternalFilters() []error {
	var errs []error
	names := map[string]bool{}
	name := func(kind, n string) {
		if n == "" {
			errs = append(errs, fmt.Errorf("filter.%s: name is required", kind))
		} else if names[n] {
			errs = append(errs, fmt.Errorf("filter.%s %q: name used twice", kind, n))
		}
		names[n] = true
	}
	for _, m := range c.Filter.Milters {
		name("milter", m.Name)
		if !strings.HasPrefix(m.Address, "unix:") && !strings.HasPrefix(m.Address, "tcp:") {
			errs = append(errs, fmt.Errorf("filter.milter %q: address %q: want unix:/path or tcp:host:port", m.Name, m.Address))
		}
		if m.Timeout < 0 {
			errs = append(errs, fmt.Errorf("filter.milter %q: negative timeout", m.Name))
		}
		for _, st := range m.Stages {
			switch st {
			case "connect", "mail", "rcpt", "data":
			default:
				errs = append(errs, fmt.Errorf("filter.milter %q: stage %q: want connect, mail, rcpt or data", m.Name, st))
			}
			if st == "connect" && m.Domain != "" {
				errs = append(errs, fmt.Errorf("filter.milter %q: no domain is known at connect", m.Name))
			}
		}
	}
	for _, h := range c.Filter.HTTPHooks {
		name("http_hook", h.Name)
		if !strings.HasPrefix(h.URL, "http://") && !strings.HasPrefix(h.URL, "https://") {
			errs = append(errs, fmt.Errorf("filter.http_hook %q: url %q: want an http(s) URL", h.Name, h.URL))
		}
		if h.Timeout < 0 {
			errs = append(errs, fmt.Errorf("filter.http_hook %q: negative timeout", h.Name))
		}
		for _, st := range h.Stages {
			switch st {
			case "connect", "mail", "rcpt", "data":
			default:
				errs = append(errs, fmt.Errorf("filter.http_hook %q: stage %q: want connect, mail, rcpt or data", h.Name, st))
			}
			if st == "connect" && h.Domain != "" {
				errs = append(errs, fmt.Errorf("filter.http_hook %q: no domain is known at connect", h.Name))
			}
		}
	}
	return errs
}
