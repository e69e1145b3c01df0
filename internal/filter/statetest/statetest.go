// Package statetest is the conformance suite every filter-state driver must pass (the
// interfaces of package filter: Settings, Tokens, TrainLog, SieveScripts, Vacations,
// QuarantineStore, BlockLists, DomainRules, DomainSwitches, AccountDocs). It checks behaviour only, never a driver's
// layout: spam levels with the domain default, Bayes counts against bayes.MemStore (the
// reference) including saturation and a reopen, the ManageSieve shape of scripts (RFC
// 5804), one vacation reply per period under concurrent deliveries (RFC 5230 4.2), also
// from two handles on the same storage (two nodes), the quarantine (one body for several
// copies, tenant isolation, expiry), block lists and domain rules, and tenant isolation
// everywhere (the same account ID in another domain sees nothing).
//
// A driver's test calls Run with an Opener.
package statetest

import (
	"context"
	"testing"

	"mailgrid/internal/filter"
	"mailgrid/internal/store"
)

// State is what a filter-state driver implements.
type State interface {
	filter.Settings
	filter.Tokens
	filter.TrainLog
	filter.SieveScripts
	filter.Vacations
	filter.QuarantineStore
	filter.BlockLists
	filter.DomainRules
	filter.DomainSwitches
	filter.AccountDocs
	filter.DomainDeleter
	filter.AccountDeleter
	Close() error
}

// Opener opens the state under test. Called again with the same t (after Close, or while
// the first handle is still open) it must return a handle on the same storage; a new t
// gets fresh, empty storage. The suite closes every handle it opens.
type Opener func(t *testing.T) State

// Run runs the conformance suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"SpamLevels", testSpamLevels},
		{"TokensMatchMemStore", testTokens},
		{"TrainLog", testTrainLog},
		{"SieveScripts", testSieveScripts},
		{"SieveScriptsSharedByHandles", testScriptsShared},
		{"VacationOncePerPeriod", testVacation},
		{"Quarantine", testQuarantine},
		{"QuarantineLimitAndOrder", testQuarantineList},
		{"BlockLists", testBlockLists},
		{"DomainRules", testDomainRules},
		{"DomainSwitches", testDomainSwitches},
		{"AccountDocs", testAccountDocs},
		{"DeleteDomain", testDeleteDomain},
		{"DeleteAccount", testDeleteAccount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

var (
	alice = store.AccountRef{Domain: "one.test", ID: 1}
	bob   = store.AccountRef{Domain: "two.test", ID: 1} // same ID, another tenant
)

// openState opens a handle closed at the end of the test (a second Close, after the
// test closed it itself, is not an error the suite reports).
func openState(t *testing.T, open Opener) State {
	t.Helper()
	s := open(t)
	closed := false
	t.Cleanup(func() {
		if !closed {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}
	})
	return &closeOnce{State: s, closed: &closed}
}

// closeOnce remembers that the test closed the handle.
type closeOnce struct {
	State
	closed *bool
}

func (c *closeOnce) Close() error {
	*c.closed = true
	return c.State.Close()
}

func ctx(t *testing.T) context.Context { return t.Context() }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
