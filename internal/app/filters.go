package app

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"mailgrid/internal/config"
	"mailgrid/internal/delivery"
	"mailgrid/internal/directory"
	"mailgrid/internal/dns"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/clamd"
	"mailgrid/internal/filter/httphook"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/filter/milter"
	filterpg "mailgrid/internal/filter/postgres"
	"mailgrid/internal/filter/rspamd"
	"mailgrid/internal/filter/sieve"
	filtersqlite "mailgrid/internal/filter/sqlite"
	"mailgrid/internal/filter/trainer"
)

// filters is the node's filter chain and the state its mailets keep (spam levels, Bayes
// tokens, Sieve scripts, vacation records, quarantine).
//
// The state lives in DATA/filter/filter.db on an embedded node (filter/sqlite) and in
// the directory database in a cluster (filter/postgres, schema "filter"), which every
// node shares: a Sieve script uploaded on one node runs for mail any node delivers, and
// mail held on one node is listed and released on any other.
type filters struct {
	chains *filter.Chains
	db     filterState
	// sieveOptions are the Sieve extensions and limits: the same for running scripts
	// (mailets.Sieve) and for accepting them (ManageSieve), so a script that uploads runs.
	sieveOptions sieve.Options
	// stopTrainer stops the Junk trainer (filter.junk_training); nil when off.
	stopTrainer func()
	// sms is the SMS service and notifier ([sms], sms.go); nil when off.
	sms *smsParts
	// srs rewrites senders of redirected mail (filter.srs_secret); nil when off.
	srs *delivery.SRS
	// servers registers the external filters and records their calls (the console's
	// filter servers page).
	servers *filter.Servers
}

// openFilters opens the filter state and builds the default chains from [filter]
// (and starts the Junk trainer when filter.junk_training is on):
// DATA stage: auth-results (fail-open), attachment-size (the plans' limit), virus (if
// clamd is set), rspamd (if set, fail-open);
// local stage: bayes and sieve (fail-open: a broken script or classifier never loses mail);
// remote stage: dkim-sign with the keys of DKIMKeys (fail-open: unsigned mail still goes
// out, as Postfix with an unreachable milter in accept mode; the failure is logged).
func (s *System) openFilters(ctx context.Context, resolver dns.Resolver) (*filters, error) {
	cfg := s.Cfg.Filter
	db, err := s.openFilterState(ctx)
	if err != nil {
		return nil, fmt.Errorf("filter state: %w", err)
	}
	f := &filters{db: db, chains: filter.NewChains(s.Log.With("svc", "filter")), servers: filter.NewServers(nil)}
	// Per-domain antivirus/antispam switches, if the state driver keeps them.
	var switches filter.DomainSwitches = db
	data := []filter.Rule{{
		Mailet:  &mailets.AuthResults{Resolver: resolver, AuthServID: s.Cfg.Hostname, EnforceDMARC: cfg.EnforceDMARC},
		Timeout: 30 * time.Second, Policy: filter.FailOpen,
	}}
	if plans, ok := s.Dir.(directory.PlanStore); ok {
		// The plans' attachment limit (552 5.3.4); fail-closed: a directory fault defers.
		data = append(data, filter.Rule{Mailet: &mailets.AttachmentSize{Limits: mailets.PlanLimits{Plans: plans}, CacheFor: 5 * time.Second},
			Timeout: 30 * time.Second})
	}
	if cfg.Clamd != "" {
		network, addr, _ := strings.Cut(cfg.Clamd, ":")
		policy := filter.FailClosed
		if cfg.ClamdFailOpen {
			policy = filter.FailOpen
		}
		var c *clamd.Client
		rec := f.servers.Add(filter.ServerInfo{Name: "virus", Kind: filter.KindClamd, Address: cfg.Clamd, Policy: policy,
			Stages: []filter.Stage{filter.StageData}}, func(ctx context.Context) error { return c.Ping(ctx) })
		c, err := clamd.New(clamd.Config{Network: network, Address: addr, Timeout: cfg.ClamdTimeout.D(), Logger: s.Log, Observer: rec})
		if err != nil {
			return nil, f.closeWith(err)
		}
		data = append(data, filter.Rule{Mailet: &mailets.Virus{Client: c}, Timeout: cfg.ClamdTimeout.D(), Policy: policy,
			Matcher: filter.SwitchedOn(switches, filter.ServiceAntivirus)})
	}
	if cfg.Rspamd != "" {
		var c *rspamd.Client
		rec := f.servers.Add(filter.ServerInfo{Name: "rspamd", Kind: filter.KindRspamd, Address: cfg.Rspamd, Policy: filter.FailOpen,
			Stages: []filter.Stage{filter.StageData}}, func(ctx context.Context) error { return c.Ping(ctx) })
		c, err := rspamd.New(rspamd.Config{URL: cfg.Rspamd, Timeout: cfg.RspamdTimeout.D(), Logger: s.Log, Observer: rec})
		if err != nil {
			return nil, f.closeWith(err)
		}
		data = append(data, filter.Rule{Mailet: &mailets.Rspamd{Client: c}, Timeout: cfg.RspamdTimeout.D(), Policy: filter.FailOpen,
			Matcher: filter.SwitchedOn(switches, filter.ServiceAntispam)})
	}
	if err := f.chains.Add(filter.StageData, "", data...); err != nil {
		return nil, f.closeWith(err)
	}
	if err := s.addPolicyFilters(f.chains, db, f.servers); err != nil {
		return nil, f.closeWith(err)
	}
	if err := f.chains.Add(filter.StageLocal, "",
		filter.Rule{Mailet: &mailets.Bayes{Settings: db, Tokens: db}, Policy: filter.FailOpen,
			Matcher: filter.SwitchedOn(switches, filter.ServiceAntispam)},
		filter.Rule{Mailet: &mailets.Sieve{Scripts: db, Vacations: db, Hostname: s.Cfg.Hostname, Options: f.sieveOptions}, Policy: filter.FailOpen},
	); err != nil {
		return nil, f.closeWith(err)
	}
	if err := s.addSMS(ctx, f); err != nil { // sms.go: the notification mailet, last at the local stage
		return nil, f.closeWith(err)
	}
	if err := f.chains.Add(filter.StageRemote, "",
		filter.Rule{Mailet: &mailets.DKIMSign{Keys: s.DKIMKeys()}, Timeout: 30 * time.Second, Policy: filter.FailOpen},
	); err != nil {
		return nil, f.closeWith(err)
	}
	if cfg.SRSSecret != "" {
		f.srs = &delivery.SRS{Secret: []byte(cfg.SRSSecret)}
	}
	if cfg.JunkTraining && s.Bus != nil {
		f.stopTrainer = s.startTrainer(ctx, db)
	}
	return f, nil
}

// filterState is the filter state both drivers implement.
type filterState interface {
	filter.Settings
	filter.Tokens
	filter.TrainLog
	filter.SieveScripts
	filter.Vacations
	filter.QuarantineStore
	filter.BlockLists
	filter.DomainRules
	filter.DomainSwitches
	filter.AccountDocs
	filter.AccountDeleter // account deletion (purge_stores.go)
	Close() error
}

// openFilterState opens the filter state: the directory database's in a cluster
// (shared by every node), else DATA/filter.
func (s *System) openFilterState(ctx context.Context) (filterState, error) {
	log := s.Log.With("svc", "filter")
	if s.cluster != nil {
		db, err := filterpg.Open(ctx, s.Cfg.Cluster.Directory, filterpg.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	db, err := filtersqlite.Open(ctx, filtersqlite.Options{Dir: filepath.Join(s.Cfg.Data, "filter"), Logger: log})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// startTrainer runs the Junk trainer (package trainer) on every change the bus carries
// until the returned stop is called.
func (s *System) startTrainer(ctx context.Context, db filterState) (stop func()) {
	tr := trainer.New(trainer.Options{Directory: s.Dir, Shards: s.Shards, Tokens: db, Log: db,
		Logger: s.Log.With("svc", "junk-trainer")})
	unobserve := s.Bus.Observe(tr.Observe)
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.Run(tctx)
	}()
	return func() {
		unobserve()
		cancel()
		<-done
	}
}

// addPolicyFilters adds the block lists and domain rules (filter.block_lists; a list
// that cannot be read defers, fail-closed), the outbound rate limits
// (filter.messages_per_hour, recipients_per_day) and the external filters of [[filter.milter]]
// and [[filter.http_hook]], in configuration order, after the built-in DATA filters.
func (s *System) addPolicyFilters(c *filter.Chains, db filterState, srv *filter.Servers) error {
	cfg := s.Cfg.Filter
	if cfg.BlockLists {
		// Lists and rules are read at most every 5 s per node (docs/mailets.md).
		bl := filter.Rule{Mailet: &mailets.BlockList{Lists: db, CacheFor: 5 * time.Second}, Timeout: 10 * time.Second}
		for _, st := range []filter.Stage{filter.StageConnect, filter.StageMail, filter.StageRcpt} {
			if err := c.Add(st, "", bl); err != nil {
				return err
			}
		}
		if err := c.Add(filter.StageData, "", filter.Rule{Mailet: &mailets.DomainRules{Rules: db, CacheFor: 5 * time.Second}, Timeout: 10 * time.Second}); err != nil {
			return err
		}
	}
	if cfg.MessagesPerHour > 0 || cfg.RecipientsPerDay > 0 {
		rl := filter.Rule{Mailet: &mailets.RateLimit{MessagesPerHour: cfg.MessagesPerHour, RecipientsPerDay: cfg.RecipientsPerDay}}
		for _, st := range []filter.Stage{filter.StageMail, filter.StageRcpt} {
			if err := c.Add(st, "", rl); err != nil {
				return err
			}
		}
	}
	policy := func(open bool) filter.Policy {
		if open {
			return filter.FailOpen
		}
		return filter.FailClosed
	}
	for _, m := range cfg.Milters {
		network, addr, _ := strings.Cut(m.Address, ":")
		var mt *milter.Milter
		stages := milterStages(m)
		rec := srv.Add(filter.ServerInfo{Name: m.Name, Kind: filter.KindMilter, Address: m.Address, Policy: policy(m.FailOpen),
			Domain: m.Domain, Stages: stages}, func(ctx context.Context) error { return mt.Health(ctx) })
		mt, err := milter.New(milter.Config{Name: m.Name, Network: network, Address: addr, Timeout: m.Timeout.D(),
			Hostname: s.Cfg.Hostname, Observer: rec})
		if err != nil {
			return err
		}
		for _, st := range stages {
			var mailet filter.Mailet = mt
			if st != filter.StageData {
				mailet = mt.EnvelopeStages() // connect/MAIL/RCPT callbacks (milter/envelope.go)
			}
			if err := c.Add(st, m.Domain, filter.Rule{Mailet: mailet, Policy: policy(m.FailOpen)}); err != nil {
				return err
			}
		}
	}
	for _, h := range cfg.HTTPHooks {
		var stages []filter.Stage
		for _, name := range h.Stages {
			st, ok := filter.ParseStage(name)
			if !ok {
				return fmt.Errorf("filter.http_hook %q: stage %q", h.Name, name)
			}
			stages = append(stages, st)
		}
		if len(stages) == 0 {
			stages = []filter.Stage{filter.StageData} // httphook's default
		}
		var hk *httphook.Hook
		rec := srv.Add(filter.ServerInfo{Name: h.Name, Kind: filter.KindHTTPHook, Address: h.URL, Policy: policy(h.FailOpen),
			Domain: h.Domain, Stages: stages}, func(ctx context.Context) error { return hk.Health(ctx) })
		hk, err := httphook.New(httphook.Config{Name: h.Name, URL: h.URL, Timeout: h.Timeout.D(), Headers: h.Headers,
			Stages: stages, Observer: rec})
		if err != nil {
			return err
		}
		for _, st := range hk.Stages() {
			if err := c.Add(st, h.Domain, filter.Rule{Mailet: hk, Policy: policy(h.FailOpen)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// milterStages are the stages of filter.milter[].stages; empty is all four (no connect
// for a milter of one domain: no domain is known there).
func milterStages(m config.Milter) []filter.Stage {
	names := m.Stages
	if len(names) == 0 {
		names = []string{"connect", "mail", "rcpt", "data"}
		if m.Domain != "" {
			names = names[1:]
		}
	}
	var out []filter.Stage
	for _, n := range names {
		if st, ok := filter.ParseStage(n); ok { // config.Validate checked the names
			out = append(out, st)
		}
	}
	return out
}

func (f *filters) closeWith(err error) error {
	if cerr := f.Close(); cerr != nil {
		return fmt.Errorf("%w (and closing: %v)", err, cerr)
	}
	return err
}

// Close releases the chains' clients and the state.
func (f *filters) Close() error {
	if f.stopTrainer != nil {
		f.stopTrainer() // before the state it writes closes
	}
	if f.sms != nil {
		f.sms.stop()
	}
	var cerr error
	if f.chains != nil {
		cerr = f.chains.Close()
	}
	if err := f.db.Close(); err != nil {
		return err
	}
	return cerr
}

// expireQuarantine deletes held mail older than the retention period, hourly, until ctx ends.
func (s *System) expireQuarantine(ctx context.Context, q filter.QuarantineStore) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := q.Expire(ctx, time.Now().Add(-s.Cfg.Filter.QuarantineRetention.D()))
		if err != nil && ctx.Err() == nil {
			s.Log.Warn("quarantine expiry", "err", err)
		} else if n > 0 {
			s.Log.Info("quarantine expired", "messages", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
