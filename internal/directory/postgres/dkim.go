package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/mail"
	"mailgrid/internal/mailauth"
)

// schemaV7 keeps the DKIM signing keys of a cluster's domains, so every node signs with
// the same keys and `mailgrid dkim rotate` on any node rotates them for all. A row
// outlives its key: after the grace period the private key is erased (key_pem NULL) but
// the selector stays taken, so it is never reused for another key.
const schemaV7 = `
CREATE TABLE dkim_keys (
	domain     text COLLATE "C" NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
	selector   text COLLATE "C" NOT NULL,
	algorithm  text NOT NULL,
	created_at timestamptz NOT NULL,
	retired_at timestamptz,          -- NULL while the key signs
	key_pem    bytea,                -- PKCS #8; NULL once expired
	PRIMARY KEY (domain, selector)
);
CREATE INDEX dkim_keys_active ON dkim_keys (domain) WHERE retired_at IS NULL;
`

// DKIMKeys is the cluster's dkimkeys.Keys: keys in the directory database. Active is
// called for every outbound message: it reads only the active selectors (one indexed
// query) and parses a key again only when the set changed.
type DKIMKeys struct {
	d     *Directory
	grace time.Duration
	now   func() time.Time

	mu    sync.Mutex
	cache map[string][]mailauth.DKIMKey // domain -> parsed active keys
}

var _ dkimkeys.Keys = (*DKIMKeys)(nil)

// DKIMKeys returns the directory's DKIM key keeper (o.Grace, o.Now as in dkimkeys).
func (d *Directory) DKIMKeys(o dkimkeys.Options) *DKIMKeys {
	if o.Grace <= 0 {
		o.Grace = dkimkeys.DefaultGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &DKIMKeys{d: d, grace: o.Grace, now: o.Now, cache: map[string][]mailauth.DKIMKey{}}
}

func dkimDomain(domain string) (string, error) {
	name, err := mail.ParseDomain(domain)
	if err != nil {
		return "", fmt.Errorf("dkim keys: invalid domain %q", domain)
	}
	return name, nil
}

// Active implements dkimkeys.Keys.
func (k *DKIMKeys) Active(ctx context.Context, domain string) ([]mailauth.DKIMKey, error) {
	name, err := dkimDomain(domain)
	if err != nil {
		return nil, err
	}
	rows, err := k.d.pool.Query(ctx, `SELECT selector FROM dkim_keys
		WHERE domain = $1 AND retired_at IS NULL ORDER BY created_at, selector`, name)
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	sels, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	k.mu.Lock()
	cached, ok := k.cache[name]
	k.mu.Unlock()
	if ok && slices.EqualFunc(cached, sels, func(c mailauth.DKIMKey, s string) bool { return c.Selector == s }) {
		return cached, nil
	}
	rows, err = k.d.pool.Query(ctx, `SELECT selector, key_pem FROM dkim_keys
		WHERE domain = $1 AND retired_at IS NULL AND key_pem IS NOT NULL ORDER BY created_at, selector`, name)
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	var keys []mailauth.DKIMKey
	var sel string
	var pemData []byte
	_, err = pgx.ForEachRow(rows, []any{&sel, &pemData}, func() error {
		s, err := mailauth.ParseDKIMKey(pemData)
		if err != nil {
			return fmt.Errorf("key %s of %s: %w", sel, name, err)
		}
		keys = append(keys, mailauth.DKIMKey{Domain: name, Selector: sel, Signer: s})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	k.mu.Lock()
	k.cache[name] = keys
	k.mu.Unlock()
	return keys, nil
}

// Rotate implements dkimkeys.Keys. Rotations of one domain take turns on the domain's
// row lock; keys retired longer than the grace period lose their private key.
func (k *DKIMKeys) Rotate(ctx context.Context, domain string, algs ...mailauth.DKIMAlgorithm) ([]string, error) {
	name, err := dkimDomain(domain)
	if err != nil {
		return nil, err
	}
	if len(algs) == 0 {
		algs = dkimkeys.DefaultAlgorithms()
	}
	// Keys are generated before the transaction: RSA generation takes a while and must
	// not hold the lock.
	pems := make([][]byte, len(algs))
	for i, alg := range algs {
		key, err := mailauth.GenerateDKIMKey(alg)
		if err != nil {
			return nil, err
		}
		if pems[i], err = mailauth.MarshalDKIMKey(key); err != nil {
			return nil, err
		}
	}
	now := k.now().UTC().Truncate(time.Second)
	var sels []string
	err = k.d.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		sels = nil
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM domains WHERE name = $1 FOR UPDATE`, name).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("dkim keys: domain %s is not hosted here", name)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE dkim_keys SET retired_at = $2 WHERE domain = $1 AND retired_at IS NULL`, name, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE dkim_keys SET key_pem = NULL
			WHERE domain = $1 AND key_pem IS NOT NULL AND retired_at < $2`, name, now.Add(-k.grace)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT selector FROM dkim_keys WHERE domain = $1`, name)
		if err != nil {
			return err
		}
		taken, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for i, alg := range algs {
			sel, err := dkimkeys.NextSelector(now, func(s string) bool { return slices.Contains(taken, s) })
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO dkim_keys (domain, selector, algorithm, created_at, key_pem)
				VALUES ($1, $2, $3, $4, $5)`, name, sel, string(alg), now, pems[i]); err != nil {
				return err
			}
			taken = append(taken, sel)
			sels = append(sels, sel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dkim keys: rotate %s: %w", name, err)
	}
	return sels, nil
}

// Records implements dkimkeys.Keys.
func (k *DKIMKeys) Records(ctx context.Context, domain string) ([]dkimkeys.Record, error) {
	name, err := dkimDomain(domain)
	if err != nil {
		return nil, err
	}
	rows, err := k.d.pool.Query(ctx, `SELECT selector, algorithm, created_at, retired_at, key_pem FROM dkim_keys
		WHERE domain = $1 AND key_pem IS NOT NULL`, name)
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	now := k.now()
	var out []dkimkeys.Record
	var sel, alg string
	var created time.Time
	var retired *time.Time
	var pemData []byte
	_, err = pgx.ForEachRow(rows, []any{&sel, &alg, &created, &retired, &pemData}, func() error {
		var ret time.Time
		if retired != nil {
			ret = *retired
		}
		if !dkimkeys.Published(ret, k.grace, now) {
			return nil
		}
		s, err := mailauth.ParseDKIMKey(pemData)
		if err != nil {
			return fmt.Errorf("key %s of %s: %w", sel, name, err)
		}
		r, err := dkimkeys.MakeRecord(name, sel, mailauth.DKIMAlgorithm(alg), created.UTC(), ret.UTC(), k.grace, s)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dkim keys: %w", err)
	}
	dkimkeys.SortRecords(out)
	return out, nil
}
