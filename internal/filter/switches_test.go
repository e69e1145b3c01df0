package filter_test

import (
	"context"
	"path/filepath"
	"testing"

	"mailgrid/internal/filter"
	filtersqlite "mailgrid/internal/filter/sqlite"
)

// TestSwitchedOn: a domain that turned antispam off is not matched by the antispam
// rules; other domains and other services are; the switches live in the real state.
func TestSwitchedOn(t *testing.T) {
	ctx := context.Background()
	db, err := filtersqlite.Open(ctx, filtersqlite.Options{Dir: filepath.Join(t.TempDir(), "filter")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.SetDomainSwitches(ctx, "off.test", filter.Switches{NoAntispam: true}); err != nil {
		t.Fatal(err)
	}
	if s, err := db.DomainSwitches(ctx, "off.test"); err != nil || s != (filter.Switches{NoAntispam: true}) {
		t.Fatalf("switches %+v %v", s, err)
	}
	var tagged []string
	tag := &mailetFunc{name: "spam", fn: func(_ context.Context, m *filter.Mail) error {
		for _, r := range m.Recipients {
			tagged = append(tagged, r.Addr.String())
		}
		return nil
	}}
	c := filter.NewChains(nil)
	if err := c.Add(filter.StageData, "", filter.Rule{Mailet: tag, Matcher: filter.SwitchedOn(db, filter.ServiceAntispam)},
		filter.Rule{Mailet: tag, Matcher: filter.SwitchedOn(db, filter.ServiceAntivirus)}); err != nil {
		t.Fatal(err)
	}
	m := newMail(filter.StageData, testMsg, "a@off.test", "b@on.test")
	if err := c.Run(ctx, m); err != nil {
		t.Fatal(err)
	}
	want := []string{"b@on.test", "a@off.test", "b@on.test"}
	if len(tagged) != len(want) {
		t.Fatalf("tagged %v, want %v", tagged, want)
	}
	for i := range want {
		if tagged[i] != want[i] {
			t.Fatalf("tagged %v, want %v", tagged, want)
		}
	}
}
