package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"mailgrid/internal/filter/bayes"
	"mailgrid/internal/store"
)

// Tokens implements filter.Tokens: the account's Bayes training data in bayes_tokens
// and bayes_totals.
func (d *DB) Tokens(acct store.AccountRef) bayes.TokenStore { return &tokenStore{d: d, acct: acct} }

type tokenStore struct {
	d    *DB
	acct store.AccountRef
}

// getBatch is how many tokens one SELECT asks for (SQLite's default limit of bound
// parameters is 32766; keep statements small).
const getBatch = 400

// Get implements bayes.TokenStore.
func (t *tokenStore) Get(ctx context.Context, tokens []string) ([]bayes.Counts, error) {
	out := make([]bayes.Counts, len(tokens))
	idx := make(map[string][]int, len(tokens))
	for i, tok := range tokens {
		idx[tok] = append(idx[tok], i)
	}
	for start := 0; start < len(tokens); start += getBatch {
		batch := tokens[start:min(start+getBatch, len(tokens))]
		if err := t.getBatch(ctx, batch, idx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *tokenStore) getBatch(ctx context.Context, batch []string, idx map[string][]int, out []bayes.Counts) error {
	args := []any{t.acct.Domain, t.acct.ID}
	var ph strings.Builder
	for i, tok := range batch {
		if i > 0 {
			ph.WriteByte(',')
		}
		args = append(args, tok)
		ph.WriteString("$")
		ph.WriteString(strconv.Itoa(len(args)))
	}
	rows, err := t.d.rdb.QueryContext(ctx, `SELECT token, spam, ham FROM bayes_tokens
		WHERE domain = $1 AND account = $2 AND token IN (`+ph.String()+`)`, args...)
	if err != nil {
		return dbErr("bayes tokens", err)
	}
	defer func() {
		if err := rows.Close(); err != nil {
			t.d.log.Warn("filter/sqlite: close rows", "err", err)
		}
	}()
	for rows.Next() {
		var tok string
		var c bayes.Counts
		if err := rows.Scan(&tok, &c.Spam, &c.Ham); err != nil {
			return dbErr("bayes tokens", err)
		}
		for _, i := range idx[tok] {
			out[i] = c
		}
	}
	return dbErr("bayes tokens", rows.Err())
}

// Totals implements bayes.TokenStore.
func (t *tokenStore) Totals(ctx context.Context) (bayes.Counts, error) {
	var c bayes.Counts
	err := t.d.rdb.QueryRowContext(ctx, `SELECT spam, ham FROM bayes_totals WHERE domain = $1 AND account = $2`,
		t.acct.Domain, t.acct.ID).Scan(&c.Spam, &c.Ham)
	if errors.Is(err, sql.ErrNoRows) {
		return bayes.Counts{}, nil
	}
	return c, dbErr("bayes totals", err)
}

// Add implements bayes.TokenStore: one transaction; counts saturate at 0 and
// math.MaxUint32; rows that reach zero are deleted.
func (t *tokenStore) Add(ctx context.Context, tokens []string, spam, ham int) error {
	const totSQL = `INSERT INTO bayes_totals (domain, account, spam, ham)
		VALUES ($1, $2, MIN(4294967295, MAX(0, $3)), MIN(4294967295, MAX(0, $4)))
		ON CONFLICT (domain, account) DO UPDATE SET
			spam = MIN(4294967295, MAX(0, spam + $3)), ham = MIN(4294967295, MAX(0, ham + $4))`
	const tokSQL = `INSERT INTO bayes_tokens (domain, account, token, spam, ham)
		VALUES ($1, $2, $3, MIN(4294967295, MAX(0, $4)), MIN(4294967295, MAX(0, $5)))
		ON CONFLICT (domain, account, token) DO UPDATE SET
			spam = MIN(4294967295, MAX(0, spam + $4)), ham = MIN(4294967295, MAX(0, ham + $5))`
	return t.d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, totSQL, t.acct.Domain, t.acct.ID, spam, ham); err != nil {
			return dbErr("bayes totals", err)
		}
		ins, err := tx.PrepareContext(ctx, tokSQL)
		if err != nil {
			return dbErr("bayes tokens", err)
		}
		defer t.closeStmt(ins)
		del, err := tx.PrepareContext(ctx, `DELETE FROM bayes_tokens WHERE domain = $1 AND account = $2 AND token = $3 AND spam = 0 AND ham = 0`)
		if err != nil {
			return dbErr("bayes tokens", err)
		}
		defer t.closeStmt(del)
		for _, tok := range tokens {
			if tok == "" {
				continue
			}
			if _, err := ins.ExecContext(ctx, t.acct.Domain, t.acct.ID, tok, spam, ham); err != nil {
				return dbErr("bayes tokens", err)
			}
			if spam < 0 || ham < 0 {
				if _, err := del.ExecContext(ctx, t.acct.Domain, t.acct.ID, tok); err != nil {
					return dbErr("bayes tokens", err)
				}
			}
		}
		return nil
	})
}

func (t *tokenStore) closeStmt(s *sql.Stmt) {
	if err := s.Close(); err != nil {
		t.d.log.Warn("filter/sqlite: close statement", "err", err)
	}
}
