package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"mailgrid/internal/admin"
	"mailgrid/internal/config"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
)

// TestPurgeDomainDeletesFilterStateAndDKIM: purging a deleted domain (embedded) also
// removes its block list, rules, switches, quarantined copies and documents from the
// filter state and its DKIM key files; another domain's state stays.
func TestPurgeDomainDeletesFilterStateAndDKIM(t *testing.T) {
	ctx := context.Background()
	c := config.Default()
	c.Data = t.TempDir()
	c.Hostname = "mx.purge.test"
	c.Listen = config.Listen{}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s := openSystem(t, c)
	for _, d := range []string{"gone.test", "kept.test"} {
		if _, err := s.Admin.AddDomain(ctx, directory.Domain{Name: d}); err != nil {
			t.Fatal(err)
		}
		a, err := s.Admin.AddAccount(ctx, directory.NewAccount{Address: mail.MustParse("u@" + d), Password: "pw-secret-1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DKIMKeys().Rotate(ctx, d); err != nil {
			t.Fatal(err)
		}
		db, err := s.openFilterState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v, err := filter.NormalizeBlock(filter.BlockSender, "spam@bad.example")
		err = errors.Join(err, db.AddBlock(ctx, filter.BlockEntry{Domain: d, Kind: filter.BlockSender, Value: v}),
			db.SetDomainSwitches(ctx, d, filter.Switches{NoAntivirus: true}),
			db.PutDoc(ctx, store.AccountRef{Domain: d, ID: a.ID}, "contacts", []byte(`{}`)))
		if _, rerr := db.PutDomainRule(ctx, filter.DomainRule{Domain: d, Name: "r", Position: 1, Enabled: true,
			Conditions: []filter.Condition{{Field: filter.FieldSize, Op: filter.OpOver, Value: "10"}},
			Action:     filter.ActionQuarantine, Arg: "x"}); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if err = errors.Join(err, db.Close()); err != nil {
			t.Fatal(err)
		}
	}
	sys := s.Admin.As(admin.SystemActor("test"))
	if err := sys.DeleteDomain(ctx, "gone.test", true); err != nil {
		t.Fatal(err)
	}
	if err := sys.PurgeDomain(ctx, "gone.test"); err != nil {
		t.Fatal(err)
	}
	db, err := s.openFilterState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}()
	for d, want := range map[string]int{"gone.test": 0, "kept.test": 1} {
		bl, err := db.Blocks(ctx, d)
		if err != nil || len(bl) != want {
			t.Errorf("%s blocks: %+v %v", d, bl, err)
		}
		rs, err := db.DomainRules(ctx, d)
		if err != nil || len(rs) != want {
			t.Errorf("%s rules: %+v %v", d, rs, err)
		}
		sw, err := db.DomainSwitches(ctx, d)
		if err != nil || sw.NoAntivirus != (want == 1) {
			t.Errorf("%s switches: %+v %v", d, sw, err)
		}
		_, err = os.Stat(filepath.Join(c.Data, "dkim", d))
		if want == 1 && err != nil || want == 0 && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s DKIM key files: %v", d, err)
		}
		if keys, err := s.DKIMKeys().Active(ctx, d); err != nil || len(keys) == 0 != (want == 0) {
			t.Errorf("%s DKIM keys: %d %v", d, len(keys), err)
		}
	}
	if _, err := s.Dir.Domain(ctx, "gone.test"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("purged domain: %v", err)
	}
}
