package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"mailgrid/internal/contacts"
	contactspg "mailgrid/internal/contacts/postgres"
	contactssqlite "mailgrid/internal/contacts/sqlite"
)

// openContacts opens the webmail's address books: the directory database's in a cluster
// (shared by every node), else DATA/contacts.
func (s *System) openContacts(ctx context.Context) (contacts.Store, error) {
	if s.cluster != nil {
		db, err := contactspg.Open(ctx, s.Cfg.Cluster.Directory, contactspg.Options{})
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	db, err := contactssqlite.Open(ctx, contactssqlite.Options{Dir: filepath.Join(s.Cfg.Data, "contacts")})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// withContacts opens the address books, builds the server that uses them and closes them
// after the server's Shutdown (or at once when build fails).
func (s *System) withContacts(build func(contacts.Store) (server, error)) (server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), contactsTimeout)
	defer cancel()
	cs, err := s.openContacts(ctx)
	if err != nil {
		return nil, fmt.Errorf("address books: %w", err)
	}
	srv, err := build(cs)
	if err != nil {
		return nil, errors.Join(err, cs.Close())
	}
	return closingServer{server: srv, close: cs.Close}, nil
}

// contactsTimeout bounds opening the address books when the HTTP listener starts.
const contactsTimeout = 30 * time.Second

// closingServer closes what a server uses after its Shutdown.
type closingServer struct {
	server
	close func() error
}

func (c closingServer) Shutdown(ctx context.Context) error {
	return errors.Join(c.server.Shutdown(ctx), c.close())
}
