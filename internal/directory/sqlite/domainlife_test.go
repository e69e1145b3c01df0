package sqlite

import (
	"path/filepath"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/directory/directorytest"
	"mailgrid/internal/mail"
)

func TestDomainLifecycleConformance(t *testing.T) {
	directorytest.RunDomainLifecycle(t, func(t *testing.T) directory.Directory {
		return openTemp(t, filepath.Join(t.TempDir(), "directory.db"))
	})
}

// BenchmarkResolveAliasDomain compares a recipient of a domain with the same recipient
// through an alias domain (one more indexed lookup per address).
func BenchmarkResolveAliasDomain(b *testing.B) {
	ctx := b.Context()
	d, err := Open(ctx, filepath.Join(b.TempDir(), "dir.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := d.Close(); err != nil {
			b.Error(err)
		}
	}()
	if err := d.CreateDomain(ctx, directory.Domain{Name: "a.example", Enabled: true}); err != nil {
		b.Fatal(err)
	}
	if _, err := d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("bob@a.example"), Password: "pw pw pw"}); err != nil {
		b.Fatal(err)
	}
	if err := d.CreateDomainAlias(ctx, directory.DomainAlias{Name: "a.org", Target: "a.example"}); err != nil {
		b.Fatal(err)
	}
	for _, rcpt := range []string{"bob@a.example", "bob@a.org"} {
		b.Run(rcpt, func(b *testing.B) {
			b.ReportAllocs()
			addr := mail.MustParse(rcpt)
			for b.Loop() {
				if _, err := d.Resolve(ctx, addr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
