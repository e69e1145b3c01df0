package store

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
)

// TestSearchHeaderRounds: the rounds a driver's header search goes through.
func TestSearchHeaderRounds(t *testing.T) {
	ctx := context.Background()
	var scans []HeaderScan
	fills, owns := 0, 0
	answers := []HeaderRows{}
	d := HeaderSearchDriver{
		Rows: func(_ context.Context, _ AccountRef, _ MailboxID, s HeaderScan) (HeaderRows, error) {
			scans = append(scans, s)
			r := answers[0]
			answers = answers[1:]
			return r, nil
		},
		Own:  func(context.Context, AccountRef, MailboxID) error { owns++; return ErrNotFound },
		Fill: func(context.Context, MailboxID) error { fills++; return nil },
	}
	var unfilled, filled HeaderRows
	unfilled.Add(3, HeaderRowUnfilled)
	unfilled.Add(4, HeaderRowMatch)
	filled.Add(3, HeaderRowMatch)
	filled.Add(4, HeaderRowMatch)
	filled.Add(5, HeaderRowNoText)

	// Unfilled rows: one fill, then the second answer.
	answers = []HeaderRows{unfilled, filled}
	m, u, err := SearchHeaderRounds(ctx, d, AccountRef{}, 1, HeaderQuery{Field: HeaderCc, Needle: "Bob", MinUID: 2})
	if err != nil || !slices.Equal(m, []UID{3, 4}) || !slices.Equal(u, []UID{5}) || fills != 1 {
		t.Fatalf("after fill: %v %v %v, %d fills", m, u, err, fills)
	}
	if want := (HeaderScan{Col: "h_cc", Needle: "bob", Lo: 2, Hi: math.MaxUint32}); scans[0] != want {
		t.Fatalf("scan %+v, want %+v", scans[0], want)
	}
	// Still unfilled after the fill (written meanwhile): unsure, no second fill.
	answers = []HeaderRows{unfilled, unfilled}
	m, u, err = SearchHeaderRounds(ctx, d, AccountRef{}, 1, HeaderQuery{Field: HeaderFrom, Needle: "x", MaxUID: 9})
	if err != nil || !slices.Equal(m, []UID{4}) || !slices.Equal(u, []UID{3}) || fills != 2 {
		t.Fatalf("still unfilled: %v %v %v, %d fills", m, u, err, fills)
	}
	// An empty answer asks for the owner.
	answers = []HeaderRows{{}}
	if _, _, err := SearchHeaderRounds(ctx, d, AccountRef{}, 1, HeaderQuery{Field: HeaderTo, Needle: "x"}); !errors.Is(err, ErrNotFound) || owns != 1 {
		t.Fatalf("empty answer: %v, %d owner checks", err, owns)
	}
	// Unknown field, needle with a separator.
	for _, q := range []HeaderQuery{{Field: "date", Needle: "x"}, {Field: HeaderSubject, Needle: "a\nb"}} {
		if _, _, err := SearchHeaderRounds(ctx, d, AccountRef{}, 1, q); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: %v", q, err)
		}
	}
}
