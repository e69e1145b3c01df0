package sqlstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/bayes"
	"mailgrid/internal/sqlkit"
	"mailgrid/internal/store"
)

// SpamLevel implements filter.Settings: the account's level, else its domain's, else
// bayes.DefaultLevel.
func (s *Store) SpamLevel(ctx context.Context, acct store.AccountRef) (bayes.Level, error) {
	var lvl int
	err := s.R.QueryRow(ctx, `SELECT level FROM spam_levels WHERE domain = $1 AND account IN ($2, 0)
		ORDER BY account DESC LIMIT 1`, acct.Domain, acct.ID).Scan(&lvl)
	switch {
	case errors.Is(err, sqlkit.ErrNoRows):
		return bayes.DefaultLevel, nil
	case err != nil:
		return 0, s.Err("spam level", err)
	}
	return bayes.Level(lvl), nil
}

// SetSpamLevel implements filter.Settings.
func (s *Store) SetSpamLevel(ctx context.Context, acct store.AccountRef, l *bayes.Level) error {
	return s.setLevel(ctx, acct.Domain, acct.ID, l)
}

// SetDomainSpamLevel implements filter.Settings.
func (s *Store) SetDomainSpamLevel(ctx context.Context, domain string, l *bayes.Level) error {
	return s.setLevel(ctx, domain, 0, l)
}

func (s *Store) setLevel(ctx context.Context, domain string, account int64, l *bayes.Level) error {
	if l == nil {
		_, err := s.W.Exec(ctx, `DELETE FROM spam_levels WHERE domain = $1 AND account = $2`, domain, account)
		return s.Err("spam level", err)
	}
	if _, err := l.MarshalText(); err != nil {
		return err
	}
	_, err := s.W.Exec(ctx, `INSERT INTO spam_levels (domain, account, level) VALUES ($1, $2, $3)
		ON CONFLICT (domain, account) DO UPDATE SET level = excluded.level`, domain, account, int(*l))
	return s.Err("spam level", err)
}

// TrainedAs implements filter.TrainLog.
func (s *Store) TrainedAs(ctx context.Context, acct store.AccountRef, blob string) (bayes.Class, bool, error) {
	var c int
	err := s.R.QueryRow(ctx, `SELECT class FROM bayes_trained WHERE domain = $1 AND account = $2 AND blob = $3`,
		acct.Domain, acct.ID, blob).Scan(&c)
	if errors.Is(err, sqlkit.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, s.Err("trained", err)
	}
	return bayes.Class(c), true, nil
}

// SetTrained implements filter.TrainLog.
func (s *Store) SetTrained(ctx context.Context, acct store.AccountRef, blob string, class bayes.Class) error {
	_, err := s.W.Exec(ctx, `INSERT INTO bayes_trained (domain, account, blob, class, trained) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (domain, account, blob) DO UPDATE SET class = excluded.class, trained = excluded.trained`,
		acct.Domain, acct.ID, blob, int(class), s.Now().Unix())
	return s.Err("set trained", err)
}

// MarkReplied implements filter.Vacations: the check and the record are one statement,
// so two deliveries racing for one sender send one reply (RFC 5230 4.1): on PostgreSQL
// the loser's INSERT waits for the winner's row and then finds it too recent; on SQLite
// the one writer runs them one after the other.
func (s *Store) MarkReplied(ctx context.Context, acct store.AccountRef, sender, handle string, now time.Time, period time.Duration) (bool, error) {
	n, err := s.W.Exec(ctx, `INSERT INTO vacation_replies (domain, account, sender, handle, sent)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (domain, account, sender, handle) DO UPDATE SET sent = excluded.sent
		WHERE vacation_replies.sent <= $6`,
		acct.Domain, acct.ID, strings.ToLower(sender), handle, now.Unix(), now.Add(-period).Unix())
	if err != nil {
		return false, s.Err("vacation", err)
	}
	return n > 0, nil
}

// Doc implements filter.AccountDocs.
func (s *Store) Doc(ctx context.Context, acct store.AccountRef, name string) ([]byte, error) {
	var doc []byte
	err := s.R.QueryRow(ctx, `SELECT doc FROM account_docs WHERE domain = $1 AND account = $2 AND name = $3`,
		acct.Domain, acct.ID, name).Scan(&doc)
	if errors.Is(err, sqlkit.ErrNoRows) {
		return nil, filter.ErrNotFound
	}
	return doc, s.Err("account document", err)
}

// PutDoc implements filter.AccountDocs.
func (s *Store) PutDoc(ctx context.Context, acct store.AccountRef, name string, doc []byte) error {
	if err := filter.CheckDoc(name, doc); err != nil {
		return err
	}
	if doc == nil {
		doc = []byte{}
	}
	_, err := s.W.Exec(ctx, `INSERT INTO account_docs (domain, account, name, doc, updated) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (domain, account, name) DO UPDATE SET doc = excluded.doc, updated = excluded.updated`,
		acct.Domain, acct.ID, name, doc, s.Now().Unix())
	return s.Err("put account document", err)
}

// DeleteDoc implements filter.AccountDocs.
func (s *Store) DeleteDoc(ctx context.Context, acct store.AccountRef, name string) error {
	_, err := s.W.Exec(ctx, `DELETE FROM account_docs WHERE domain = $1 AND account = $2 AND name = $3`,
		acct.Domain, acct.ID, name)
	return s.Err("delete account document", err)
}
