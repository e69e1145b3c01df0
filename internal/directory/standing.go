package directory

import (
	"context"
	"errors"
)

// Standing is what the directory says of an account whose sessions are open: whether
// they may go on. The front-ends ask it when they may have missed the announcement that
// ends them (a bus overflow or resync): the directory is the only truth.
type Standing int

const (
	StandingOK       Standing = iota // sessions go on
	StandingDeleted                  // the account is gone
	StandingDisabled                 // the account or its domain is disabled (a deleted domain reads as disabled)
	StandingMoved                    // the account is placed on another shard than the sessions'
)

// AccountStanding returns the standing of account id of domain for sessions served from
// shard ("" when the front-end does not depend on the shard, as ManageSieve). A
// directory fault is returned as an error (StandingOK): it ends no session.
func AccountStanding(ctx context.Context, d Directory, domain string, id int64, shard string) (Standing, error) {
	a, err := d.AccountByID(ctx, domain, id)
	if errors.Is(err, ErrNotFound) {
		return StandingDeleted, nil
	}
	if err != nil {
		return StandingOK, err
	}
	if shard != "" && a.Shard != shard {
		return StandingMoved, nil
	}
	if !a.Enabled {
		return StandingDisabled, nil
	}
	dom, err := d.Domain(ctx, domain)
	if err != nil {
		return StandingOK, err
	}
	if !dom.Enabled {
		return StandingDisabled, nil
	}
	return StandingOK, nil
}
