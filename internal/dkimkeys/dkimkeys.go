// Package dkimkeys keeps the DKIM signing keys of the hosted domains (RFC 6376) and
// rotates them.
//
// Model: a domain has zero or more keys, each published under its own selector
// (RFC 6376 3.1) named "mg<yyyymm><n>" (year and month of creation, then a counter, so
// every key of a domain has a distinct, readable selector). A rotation creates one new
// key per requested algorithm (Ed25519, RFC 8463, and RSA-2048, RFC 8301 3.2, side by
// side: every verifier reads RSA, Ed25519 is short and fast) and makes them the active
// set: the signing mailet signs with every active key. The keys they replace are retired
// but stay published for a grace period, so that mail signed just before the rotation
// and still in flight, or verified late, keeps verifying (RFC 6376 3.6.2.1 leaves key
// management to the signer; M3AAWG's key rotation practice is to keep the old selector
// in DNS for days after it stops signing). Records lists what to publish: the active
// keys and the ones in their grace period.
//
// Keys is the interface the rest of mailgrid uses, so a cluster can keep keys in the
// directory database. Dir is the embedded shape's store: files under
// DATA/dkim/<domain>/: one <selector>.pem per key (PKCS #8, mode 0600) and index.json,
// the marker of which selectors are active and when the others were retired. Every file
// is written to a temporary file, synced and renamed into place, so a reader (the server
// while the CLI rotates) sees the old state or the new one, never a part. Rotations of
// one domain are serialised by an flock on DATA/dkim/<domain>/.lock.
//
// The package uses only the standard library and package mailauth (key generation,
// PEM encoding and record formatting).
package dkimkeys

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"time"

	"mailgrid/internal/mailauth"
)

// Keys is a store of per-domain DKIM keys.
type Keys interface {
	// Active returns the keys to sign mail of domain with; none (and no error) when the
	// domain has no key.
	Active(ctx context.Context, domain string) ([]mailauth.DKIMKey, error)
	// Rotate creates a new key for each algorithm, makes them the active set and
	// retires the previous active keys (published for the grace period). It returns the
	// new selectors, in the order of algs.
	Rotate(ctx context.Context, domain string, algs ...mailauth.DKIMAlgorithm) ([]string, error)
	// Records returns the TXT records to publish for domain: active keys first, then
	// retired ones still in their grace period, newest first within each.
	Records(ctx context.Context, domain string) ([]Record, error)
}

// Record is one key record to publish in the DNS (RFC 6376 3.6.2.1).
type Record struct {
	Domain    string                 `json:"domain"`
	Selector  string                 `json:"selector"`
	Algorithm mailauth.DKIMAlgorithm `json:"algorithm"`
	Created   time.Time              `json:"created"`
	// Active keys sign; retired ones are only published until Until.
	Active bool       `json:"active"`
	Until  *time.Time `json:"retired_until,omitempty"`
	Name   string     `json:"name"` // selector._domainkey.domain
	TXT    string     `json:"txt"`  // the record text, "v=DKIM1; k=...; p=..."
	Zone   string     `json:"zone"` // the record as a zone file line
}

// DefaultGrace is how long a retired key stays published.
const DefaultGrace = 7 * 24 * time.Hour

// DefaultAlgorithms returns the key types a rotation creates when none is named: both.
func DefaultAlgorithms() []mailauth.DKIMAlgorithm {
	return []mailauth.DKIMAlgorithm{mailauth.DKIMEd25519, mailauth.DKIMRSA}
}

// The helpers below are what every keeper (Dir here, the PostgreSQL directory's in a
// cluster) shares: selector names, what is published, the record texts and their order.

// NextSelector returns the first selector of now's month ("mg<yyyymm><n>") that taken
// does not report as used. Selectors are never reused, so a keeper reports every
// selector it still knows of, retired ones included.
func NextSelector(now time.Time, taken func(string) bool) (string, error) {
	prefix := "mg" + now.UTC().Format("200601")
	for n := 1; n < 10000; n++ {
		if sel := fmt.Sprintf("%s%d", prefix, n); !taken(sel) {
			return sel, nil
		}
	}
	return "", errors.New("dkim keys: no free selector this month")
}

// Published reports whether a key retired at retired (zero: active) is still to be
// published at now: active keys always, retired ones for grace.
func Published(retired time.Time, grace time.Duration, now time.Time) bool {
	return retired.IsZero() || now.Before(retired.Add(grace))
}

// MakeRecord builds the DNS record of one key (RFC 6376 3.6.1).
func MakeRecord(domain, selector string, alg mailauth.DKIMAlgorithm, created, retired time.Time, grace time.Duration, key crypto.Signer) (Record, error) {
	r := Record{Domain: domain, Selector: selector, Algorithm: alg, Created: created,
		Active: retired.IsZero(), Name: mailauth.DKIMRecordName(selector, domain)}
	if !r.Active {
		until := retired.Add(grace)
		r.Until = &until
	}
	var err error
	if r.TXT, err = mailauth.DKIMRecord(key.Public()); err != nil {
		return r, err
	}
	if r.Zone, err = mailauth.DKIMZoneRecord(selector, domain, key.Public()); err != nil {
		return r, err
	}
	return r, nil
}

// SortRecords puts active keys first, then retired ones, newest first within each.
func SortRecords(rs []Record) {
	slices.SortStableFunc(rs, func(a, b Record) int {
		if a.Active != b.Active {
			if a.Active {
				return -1
			}
			return 1
		}
		return b.Created.Compare(a.Created)
	})
}
