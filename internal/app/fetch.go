package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"mailgrid/internal/contacts"
	"mailgrid/internal/fetch"
	fetchpg "mailgrid/internal/fetch/postgres"
	fetchsqlite "mailgrid/internal/fetch/sqlite"
)

// openFetch opens the external POP3 accounts: the directory database's in a cluster
// (shared by every node, which is what makes the per-account lease cluster-wide), else
// DATA/fetch.
func (s *System) openFetch(ctx context.Context) (fetch.Store, error) {
	if s.cluster != nil {
		db, err := fetchpg.Open(ctx, s.Cfg.Cluster.Directory)
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	db, err := fetchsqlite.Open(ctx, fetchsqlite.Options{Dir: filepath.Join(s.Cfg.Data, "fetch")})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// fetchTLS is the POP3 client's TLS: the system's roots plus this node's own certificate
// (a self-signed one included), so one mailgrid can fetch from another of the same
// installation.
func (s *System) fetchTLS() *tls.Config {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if own, err := loadTLS(s.Cfg); err == nil && len(own.Certificates) > 0 && len(own.Certificates[0].Certificate) > 0 {
		if c, err := x509.ParseCertificate(own.Certificates[0].Certificate[0]); err == nil {
			roots.AddCert(c)
		}
	}
	conf.RootCAs = roots
	return conf
}

// withFetch opens the external accounts, starts this node's fetch schedule, builds the
// server that uses the Fetcher, and after the server's Shutdown stops the schedule and
// closes the store.
func (s *System) withFetch(build func(*fetch.Fetcher) (server, error)) (server, error) {
	octx, cancel := context.WithTimeout(context.Background(), contactsTimeout)
	defer cancel()
	db, err := s.openFetch(octx)
	if err != nil {
		return nil, fmt.Errorf("external accounts: %w", err)
	}
	node := s.queueNode()
	if node == "" {
		node = s.Cfg.Hostname
	}
	f, err := fetch.New(fetch.Options{
		Store: db, Deliver: fetch.StoreDeliverer{Dir: s.Dir, Shards: s.Shards}, Node: node,
		TLS: s.fetchTLS(), MaxMessage: s.Cfg.SMTP.MaxMessageBytes, AllowPrivate: s.Cfg.Fetch.AllowPrivate, Logger: s.Log.With("svc", "fetch"),
	})
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	srv, err := build(f)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	rctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f.Run(rctx) })
	return closingServer{server: srv, close: func() error {
		stop()
		wg.Wait()
		return db.Close()
	}}, nil
}

// fetching adapts a web server builder to withContacts, adding the Fetcher (withFetch).
func (s *System) fetching(build func(contacts.Store, *fetch.Fetcher) (server, error)) func(contacts.Store) (server, error) {
	return func(cs contacts.Store) (server, error) {
		return s.withFetch(func(f *fetch.Fetcher) (server, error) { return build(cs, f) })
	}
}
