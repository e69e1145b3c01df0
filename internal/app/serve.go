package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"mailgrid/internal/admin"
	"mailgrid/internal/contacts"
	"mailgrid/internal/delivery"
	"mailgrid/internal/directory"
	"mailgrid/internal/dns"
	"mailgrid/internal/fetch"
	"mailgrid/internal/imapserver"
	"mailgrid/internal/managesieve"
	"mailgrid/internal/obs"
	"mailgrid/internal/pop3server"
	"mailgrid/internal/queue"
	"mailgrid/internal/smtpclient"
	"mailgrid/internal/smtpserver"
	"mailgrid/internal/store"
	"mailgrid/internal/web"
)

// kickingQueue wakes the scheduler after every enqueue so new mail leaves at once
// instead of at the next poll.
type kickingQueue struct {
	queue.Queue
	sched *queue.Scheduler
}

func (k kickingQueue) Enqueue(ctx context.Context, env queue.Envelope, rcpts []queue.Recipient, body store.Body) (string, error) {
	id, err := k.Queue.Enqueue(ctx, env, rcpts, body)
	if err == nil {
		k.sched.Kick()
	}
	return id, err
}

// server is what every protocol front-end provides.
type server interface {
	Serve(l net.Listener) error
	Shutdown(ctx context.Context) error
}

// listener is one listening socket and the server behind it.
type listener struct {
	name string
	srv  server
	l    net.Listener
}

// Serve runs every configured service until ctx is cancelled, then shuts down
// gracefully: listeners stop accepting, sessions in flight get smtp.shutdown_grace to
// finish (then 421), the queue finishes its deliveries in flight, storage is closed by
// the caller (Close).
func (s *System) Serve(ctx context.Context) error {
	cfg := s.Cfg
	applyMemoryLimit(cfg.Node.MemoryLimitBytes, s.Log)
	applySQLiteHeapLimit(cfg.Node.SQLiteHeapLimitBytes, s.Log)
	tlsConf, err := loadTLS(cfg)
	if err != nil {
		return err
	}
	spool := filepath.Join(cfg.Data, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	resolver := dns.New(cfg.DNS.Servers, cfg.DNS.Timeout.D())
	client, err := smtpclient.New(smtpclient.Options{
		Hostname:       cfg.Hostname,
		Port:           cfg.Outbound.SMTPPort,
		Resolver:       resolver,
		ConnectTimeout: cfg.Outbound.ConnectTimeout.D(),
		Logger:         s.Log.With("svc", "smtp-out"),
		MTASTS:         mtaSTS(cfg.Outbound.MTASTS),
	})
	if err != nil {
		return err
	}
	// The filters look up the same sender domains for every message: a short cache.
	flt, err := s.openFilters(ctx, dns.NewCache(resolver, 0, 0, 0, nil))
	if err != nil {
		return err
	}
	defer func() { obs.Check(s.Log, flt.Close(), "closing filters") }()
	kq := kickingQueue{Queue: s.Queue}
	pipeline := delivery.New(delivery.Options{
		Directory: s.Dir, Shards: s.Shards, Queue: &kq, Hostname: cfg.Hostname,
		Logger: s.Log.With("svc", "delivery"), Filters: flt.chains, Quarantine: flt.db, SRS: flt.srs,
	})
	sched := s.scheduler(client, pipeline, spool)
	kq.sched = sched

	ls, err := s.listen(tlsConf, pipeline, spool, flt)
	if err != nil {
		return err
	}
	stopHeartbeat := func() {}
	if s.cluster != nil {
		if stopHeartbeat, err = s.registerNode(ctx, ls); err != nil {
			closeListeners(s, ls)
			return fmt.Errorf("node registry: %w", err)
		}
	}

	var wg sync.WaitGroup
	errc := make(chan error, len(ls)+1)
	qctx, stopQueue := context.WithCancel(context.WithoutCancel(ctx))
	defer stopQueue()
	wg.Add(3)
	go func() {
		defer wg.Done()
		s.expireQuarantine(qctx, flt.db)
	}()
	go func() {
		defer wg.Done()
		s.purgeDomains(qctx) // domains_purge.go
	}()
	go func() {
		defer wg.Done()
		if err := sched.Run(qctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("queue: %w", err)
		}
	}()
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.srv.Serve(l.l); err != nil && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("%s: %w", l.name, err)
			}
		}()
	}
	s.Log.Info("mailgrid running", "hostname", cfg.Hostname, "data", cfg.Data, "cluster", s.cluster != nil)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.Log.Info("shutting down")
	stopHeartbeat()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.SMTP.ShutdownGrace.D())
	defer cancel()
	for _, l := range ls {
		if err := l.srv.Shutdown(sctx); err != nil {
			s.Log.Warn("shutdown", "listener", l.name, "err", err)
		}
	}
	stopQueue()
	wg.Wait()
	s.Log.Info("stopped")
	return runErr
}

// listen opens the listeners that are configured, each with its server.
func (s *System) listen(tlsConf *tls.Config, p *delivery.Pipeline, spool string, flt *filters) ([]listener, error) {
	cfg := s.Cfg
	specs := []struct {
		name, addr string
		make       func() (server, error)
	}{
		{"smtp", cfg.Listen.SMTP, func() (server, error) { return s.smtpServer(smtpserver.ModeMX, false, tlsConf, p, spool) }},
		{"submission", cfg.Listen.Submission, func() (server, error) { return s.smtpServer(smtpserver.ModeSubmission, false, tlsConf, p, spool) }},
		{"submissions", cfg.Listen.Submissions, func() (server, error) { return s.smtpServer(smtpserver.ModeSubmission, true, tlsConf, p, spool) }},
		{"imap", cfg.Listen.IMAP, func() (server, error) { return s.imapServer(false, tlsConf, spool) }},
		{"imaps", cfg.Listen.IMAPS, func() (server, error) { return s.imapServer(true, tlsConf, spool) }},
		{"http", cfg.Listen.HTTP, func() (server, error) { return s.webServer(p, flt) }},
		{"managesieve", cfg.Listen.ManageSieve, func() (server, error) {
			return managesieve.New(managesieve.Options{
				Hostname: cfg.Hostname, TLSConfig: tlsConf, Directory: s.Dir, Scripts: flt.db, Bus: s.Bus,
				Sieve: flt.sieveOptions, Logger: s.Log.With("svc", "managesieve"),
			})
		}},
		{"pop3", cfg.Listen.POP3, func() (server, error) { return s.pop3Server(false, tlsConf) }},
		{"pop3s", cfg.Listen.POP3S, func() (server, error) { return s.pop3Server(true, tlsConf) }},
	}
	var out []listener
	for _, sp := range specs {
		if sp.addr == "" {
			continue
		}
		srv, err := sp.make()
		if errors.Is(err, errNoWeb) {
			s.Log.Warn("listener skipped", "svc", sp.name, "reason", err)
			continue
		}
		if err == nil {
			var l net.Listener
			l, err = net.Listen("tcp", sp.addr)
			if err == nil { // servers do their implicit TLS handshake themselves
				out = append(out, listener{name: sp.name, srv: srv, l: l})
				s.Log.Info("listening", "svc", sp.name, "addr", sp.addr)
				continue
			}
		}
		closeListeners(s, out)
		return nil, fmt.Errorf("listen %s %s: %w", sp.name, sp.addr, err)
	}
	return out, nil
}

// scheduler builds the outbound queue's scheduler from [queue].
func (s *System) scheduler(client queue.Sender, p *delivery.Pipeline, spool string) *queue.Scheduler {
	q := s.Cfg.Queue
	delayWarning := q.DelayWarning.D()
	if delayWarning == 0 {
		delayWarning = -1 // SchedulerOptions: negative disables
	}
	return queue.NewScheduler(s.Queue, client, queue.SchedulerOptions{
		Hostname: s.Cfg.Hostname, Node: s.queueNode(), Submit: p.SubmitDSN,
		FirstRetry: q.FirstRetry.D(), MaxRetry: q.MaxRetryInterval.D(),
		Lifetime: q.Lifetime.D(), DelayWarning: delayWarning,
		Concurrency: q.Concurrency, PerDomain: q.PerDomain,
		PollInterval: q.PollInterval.D(), LeaseFor: q.Lease.D(), TempDir: spool,
		Logger: s.Log.With("svc", "queue"),
	})
}

// closeListeners closes listening sockets of a start that failed.
func closeListeners(s *System, ls []listener) {
	for _, l := range ls {
		if err := l.l.Close(); err != nil {
			s.Log.Warn("close listener", "svc", l.name, "err", err)
		}
	}
}

// queueNode is the scheduler's lease owner: the node name in a cluster (leases are per
// node, so each running node needs its own), the default (the hostname) embedded.
func (s *System) queueNode() string {
	if s.cluster != nil {
		return s.Cfg.NodeName()
	}
	return ""
}

func (s *System) smtpServer(mode smtpserver.Mode, implicit bool, tlsConf *tls.Config, p *delivery.Pipeline, spool string) (server, error) {
	cfg := s.Cfg
	return smtpserver.New(smtpserver.Options{
		Mode: mode, Hostname: cfg.Hostname, TLSConfig: tlsConf, ImplicitTLS: implicit,
		Pipeline: p, Directory: s.Dir, SpoolDir: spool,
		MaxMessageBytes: cfg.SMTP.MaxMessageBytes, MaxRecipients: cfg.SMTP.MaxRecipients,
		MaxLineLength: cfg.SMTP.MaxLineLength, ReadTimeout: cfg.SMTP.ReadTimeout.D(),
		WriteTimeout: cfg.SMTP.WriteTimeout.D(), MaxConnsPerIP: cfg.SMTP.MaxConnsPerIP,
		MaxErrors: cfg.SMTP.MaxErrors, Logger: s.Log.With("svc", mode.String()),
	})
}

func (s *System) imapServer(implicit bool, tlsConf *tls.Config, spool string) (server, error) {
	return imapserver.New(imapserver.Options{
		Hostname: s.Cfg.Hostname, TLSConfig: tlsConf, ImplicitTLS: implicit,
		Directory: s.Dir, Shards: s.Shards, Bus: s.Bus, SpoolDir: spool,
		MaxLiteralSize: s.Cfg.SMTP.MaxMessageBytes, Logger: s.Log.With("svc", "imap"),
	})
}

// webServer is the JSON API, the admin console and the webmail, which sends through the
// same pipeline as SMTP submission. It keeps sessions in the directory, which both
// directory drivers do; a driver without the add-on gets no listener (errNoWeb).
func (s *System) webServer(p *delivery.Pipeline, flt *filters) (server, error) {
	if _, ok := s.Dir.(directory.WebAuthStore); !ok {
		return nil, errNoWeb
	}
	h := s.Cfg.HTTP
	var state web.MailFilterState // the webmail's settings page; none without filters
	if flt != nil && flt.db != nil {
		state = flt.db
	}
	// The address books (contacts.go) close after the server's Shutdown.
	return s.withContacts(s.fetching(func(cs contacts.Store, f *fetch.Fetcher) (server, error) {
		sch, err := s.openSchedule() // schedule.go: scheduled sends and their Runner
		if err != nil {
			return nil, fmt.Errorf("scheduled sends: %w", err)
		}
		srv, err := web.New(web.Options{
			Admin: s.Admin, Hostname: s.Cfg.Hostname, AssetsDir: h.AssetsDir,
			SecureCookies: h.SecureCookies, TrustedOrigins: h.TrustedOrigins, Logger: s.Log.With("svc", "http"),
			Mail: web.MailOptions{Shards: s.Shards, Pipeline: p, Bus: s.Bus, MaxMessageBytes: s.Cfg.SMTP.MaxMessageBytes, FilterState: state, Contacts: cs, Fetch: f, Schedule: sch,
				SMS: flt.smsService()},
			// The console's filter policy, quarantine and DNS pages (web/admin_policy.go).
			Filters: webFilters(s, p, flt),
			DNS:     admin.DNSSource{Keys: s.DKIMKeys(), Resolver: dns.New(s.Cfg.DNS.Servers, s.Cfg.DNS.Timeout.D()), MTASTSMode: s.Cfg.HTTP.MTASTSMode},
			// MTA-STS policy, autoconfig, autodiscover (web/wellknown.go).
			WellKnown: web.WellKnownOptions{MTASTSMode: s.Cfg.HTTP.MTASTSMode, IMAPS: s.Cfg.Listen.IMAPS, IMAP: s.Cfg.Listen.IMAP,
				POP3S: s.Cfg.Listen.POP3S, POP3: s.Cfg.Listen.POP3, Submissions: s.Cfg.Listen.Submissions, Submission: s.Cfg.Listen.Submission},
		})
		if err != nil {
			return nil, errors.Join(err, sch.Close())
		}
		return s.runSchedule(srv, sch), nil
	}))
}

// errNoWeb skips the HTTP listener where the directory keeps no web sessions.
var errNoWeb = errors.New("the directory driver keeps no web sessions: HTTP not served")

func (s *System) pop3Server(implicit bool, tlsConf *tls.Config) (server, error) {
	return pop3server.New(pop3server.Options{
		Hostname: s.Cfg.Hostname, TLSConfig: tlsConf, ImplicitTLS: implicit,
		Directory: s.Dir, Shards: s.Shards, Bus: s.Bus, Logger: s.Log.With("svc", "pop3"),
	})
}

// mtaSTS is the smtpclient's MTA-STS setting for outbound.mta_sts (nil = off).
func mtaSTS(on bool) *smtpclient.MTASTSOptions {
	if !on {
		return nil
	}
	return &smtpclient.MTASTSOptions{}
}
