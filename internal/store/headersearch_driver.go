package store

import (
	"context"
	"fmt"
	"math"
)

// The engine-neutral part of a driver's SearchHeader: the field's column, the states a
// driver's query reports per row, and the rounds of search, fill and search again.
//
// A driver's query returns, per sort_keys row of the UID range whose text may hold the
// needle, the row's state: HeaderRowUnfilled (NULL text, a row from before the driver
// kept header text), HeaderRowNoText ("" text: no decodable Meta) or HeaderRowMatch.

// Row states of a driver's header search query.
const (
	HeaderRowUnfilled = 0 // NULL text: fill it, meanwhile unsure
	HeaderRowNoText   = 1 // no decodable Meta: unsure, the caller evaluates it
	HeaderRowMatch    = 2
)

// HeaderFillBatch bounds the rows one fill statement or commit of a driver writes.
const HeaderFillBatch = 1000

// headerColumns maps a header search field to its sort_keys column.
var headerColumns = map[string]string{
	HeaderFrom:    "h_from",
	HeaderTo:      "h_to",
	HeaderCc:      "h_cc",
	HeaderBcc:     "h_bcc",
	HeaderSubject: "h_subject",
}

// HeaderRows collects a driver's header search answer, row by row in UID order.
type HeaderRows struct {
	Match, Unsure []UID
	Unfilled      bool // a row had no text yet (HeaderRowUnfilled)
}

// Add records one row of the driver's query.
func (r *HeaderRows) Add(uid, state int64) {
	switch state {
	case HeaderRowMatch:
		r.Match = append(r.Match, UID(uid))
	case HeaderRowUnfilled:
		r.Unfilled = true
		r.Unsure = append(r.Unsure, UID(uid))
	default:
		r.Unsure = append(r.Unsure, UID(uid))
	}
}

// HeaderScan is one driver query over column col for the folded needle in the UID range
// lo..hi, joined to the mailbox's owner.
type HeaderScan struct {
	Col, Needle string
	Lo, Hi      int64
}

// HeaderSearchDriver is what SearchHeaderRounds asks of a driver.
type HeaderSearchDriver struct {
	// Rows runs the query once, over rows of the mailbox of acct only.
	Rows func(ctx context.Context, acct AccountRef, mbox MailboxID, scan HeaderScan) (HeaderRows, error)
	// Own checks the mailbox belongs to acct (ErrNotFound otherwise); asked only after
	// an empty answer, as Rows joins the owner.
	Own func(ctx context.Context, acct AccountRef, mbox MailboxID) error
	// Fill gives the mailbox's unfilled rows their text (HeaderFillBatch per statement).
	Fill func(ctx context.Context, mbox MailboxID) error
}

// SearchHeaderRounds implements HeaderSearcher.SearchHeader over a driver's query: it
// searches, and when rows had no text yet, fills them once and searches again (rows still
// unfilled after that, written meanwhile, stay unsure).
func SearchHeaderRounds(ctx context.Context, d HeaderSearchDriver, acct AccountRef, mbox MailboxID, q HeaderQuery) (match, unsure []UID, err error) {
	col, ok := headerColumns[q.Field]
	if !ok || !HeaderIndexable(q.Needle) {
		return nil, nil, fmt.Errorf("search header: %q: %w", q.Field, ErrInvalid)
	}
	scan := HeaderScan{Col: col, Needle: FoldHeaderNeedle(q.Needle), Lo: int64(q.MinUID), Hi: int64(q.MaxUID)}
	if q.MaxUID == 0 {
		scan.Hi = math.MaxUint32
	}
	for round := 0; ; round++ {
		r, err := d.Rows(ctx, acct, mbox, scan)
		if err != nil {
			return nil, nil, fmt.Errorf("search header: %w", err)
		}
		if len(r.Match) == 0 && len(r.Unsure) == 0 {
			return nil, nil, d.Own(ctx, acct, mbox)
		}
		if !r.Unfilled || round == 1 {
			return r.Match, r.Unsure, nil
		}
		if err := d.Fill(ctx, mbox); err != nil {
			return nil, nil, fmt.Errorf("search header: fill: %w", err)
		}
	}
}
