package app

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"mailgrid/internal/config"
	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/dns"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/clamd"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/filter/rspamd"
	"mailgrid/internal/filter/sieve"
	filtersqlite "mailgrid/internal/filter/sqlite"
)

// filters is the node's filter chain and the state its mailets keep (spam levels, Bayes
// tokens, Sieve scripts, vacation records, quarantine).
//
// The state lives in DATA/filter/filter.db. In a cluster each node has its own copy, so
// Sieve scripts and quarantine are per node until the state moves into the shard
// databases (noted in docs/operations.md).
type filters struct {
	chains *filter.Chains
	db     *filtersqlite.DB
	// sieveOptions are the Sieve extensions and limits: the same for running scripts
	// (mailets.Sieve) and for accepting them (ManageSieve), so a script that uploads runs.
	sieveOptions sieve.Options
}

// openFilters opens the filter state and builds the default chains from [filter]:
// DATA stage: auth-results (fail-open), virus (if clamd is set), rspamd (if set, fail-open);
// local stage: bayes and sieve (fail-open: a broken script or classifier never loses mail);
// remote stage: dkim-sign with the keys of DKIMKeys (fail-open: unsigned mail still goes
// out, as Postfix with an unreachable milter in accept mode; the failure is logged).
func (s *System) openFilters(ctx context.Context, resolver dns.Resolver) (*filters, error) {
	cfg := s.Cfg.Filter
	db, err := filtersqlite.Open(ctx, filtersqlite.Options{Dir: filepath.Join(s.Cfg.Data, "filter"), Logger: s.Log.With("svc", "filter")})
	if err != nil {
		return nil, fmt.Errorf("filter state: %w", err)
	}
	f := &filters{db: db, chains: filter.NewChains(s.Log.With("svc", "filter"))}
	data := []filter.Rule{{
		Mailet:  &mailets.AuthResults{Resolver: resolver, AuthServID: s.Cfg.Hostname, EnforceDMARC: cfg.EnforceDMARC},
		Timeout: 30 * time.Second, Policy: filter.FailOpen,
	}}
	if cfg.Clamd != "" {
		network, addr, _ := strings.Cut(cfg.Clamd, ":")
		c, err := clamd.New(clamd.Config{Network: network, Address: addr, Timeout: cfg.ClamdTimeout.D(), Logger: s.Log})
		if err != nil {
			return nil, f.closeWith(err)
		}
		policy := filter.FailClosed
		if cfg.ClamdFailOpen {
			policy = filter.FailOpen
		}
		data = append(data, filter.Rule{Mailet: &mailets.Virus{Client: c}, Timeout: cfg.ClamdTimeout.D(), Policy: policy})
	}
	if cfg.Rspamd != "" {
		c, err := rspamd.New(rspamd.Config{URL: cfg.Rspamd, Timeout: cfg.RspamdTimeout.D(), Logger: s.Log})
		if err != nil {
			return nil, f.closeWith(err)
		}
		data = append(data, filter.Rule{Mailet: &mailets.Rspamd{Client: c}, Timeout: cfg.RspamdTimeout.D(), Policy: filter.FailOpen})
	}
	if err := f.chains.Add(filter.StageData, "", data...); err != nil {
		return nil, f.closeWith(err)
	}
	if err := f.chains.Add(filter.StageLocal, "",
		filter.Rule{Mailet: &mailets.Bayes{Settings: db, Tokens: db}, Policy: filter.FailOpen},
		filter.Rule{Mailet: &mailets.Sieve{Scripts: db, Vacations: db, Hostname: s.Cfg.Hostname, Options: f.sieveOptions}, Policy: filter.FailOpen},
	); err != nil {
		return nil, f.closeWith(err)
	}
	if err := f.chains.Add(filter.StageRemote, "",
		filter.Rule{Mailet: &mailets.DKIMSign{Keys: DKIMKeys(s.Cfg)}, Timeout: 30 * time.Second, Policy: filter.FailOpen},
	); err != nil {
		return nil, f.closeWith(err)
	}
	return f, nil
}

// DKIMKeys returns the installation's DKIM key store: files under DATA/dkim (package
// dkimkeys). In a cluster each node reads its own DATA, so keys must be rotated on one
// node and copied until the directory database keeps them.
func DKIMKeys(cfg config.Config) dkimkeys.Keys {
	return dkimkeys.OpenDir(filepath.Join(cfg.Data, "dkim"), dkimkeys.Options{})
}

func (f *filters) closeWith(err error) error {
	if cerr := f.Close(); cerr != nil {
		return fmt.Errorf("%w (and closing: %v)", err, cerr)
	}
	return err
}

// Close releases the chains' clients and the state.
func (f *filters) Close() error {
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
