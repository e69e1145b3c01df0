package directory

import (
	"errors"
	"slices"
	"testing"

	"mailgrid/internal/mail"
)

func TestNormServices(t *testing.T) {
	for _, c := range []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{}, nil},
		{[]string{"pop3"}, []string{"pop3"}},
		{[]string{"webmail", "IMAP", "pop3", "imap"}, []string{"imap", "pop3", "webmail"}},
		{Services(), Services()},
	} {
		got, err := NormServices(c.in)
		if err != nil || !slices.Equal(got, c.want) || (c.want == nil) != (got == nil) {
			t.Errorf("NormServices(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range [][]string{{""}, {"smtp"}, {"imap", "nntp"}, {"imap,pop3"}, {" imap"}} {
		if got, err := NormServices(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("NormServices(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
	}
	if s := Services(); !slices.IsSorted(s) || len(slices.Compact(slices.Clone(s))) != len(s) {
		t.Errorf("Services() = %q: not sorted and unique", s)
	}
	s := Services()
	s[0] = "changed"
	if Services()[0] != ServiceIMAP {
		t.Error("Services() shares its slice with callers")
	}
}

// The truth table: allowed only when neither the domain nor the account disables it.
func TestServiceAllowed(t *testing.T) {
	acct := func(off ...string) Account {
		return Account{Address: mail.Address{Local: "u", Domain: "a.example"}, DisabledServices: off}
	}
	dom := func(off ...string) Domain { return Domain{Name: "a.example", DisabledServices: off} }
	for _, c := range []struct {
		d    Domain
		a    Account
		svc  string
		want bool
	}{
		{dom(), acct(), ServicePOP3, true},
		{dom(ServicePOP3), acct(), ServicePOP3, false},
		{dom(), acct(ServicePOP3), ServicePOP3, false},
		{dom(ServicePOP3), acct(ServicePOP3), ServicePOP3, false},
		{dom(ServicePOP3), acct(ServiceIMAP), ServiceSubmission, true},
		{dom(ServicePOP3), acct(ServiceIMAP), ServiceIMAP, false},
		{dom(), acct(), "nntp", false},                                         // unknown service
		{dom(), acct(), "", false},                                             // no service
		{Domain{Name: "b.example"}, acct(), ServiceWebmail, false},             // another tenant's domain
		{Domain{}, acct(), ServiceWebmail, false},                              // no domain read
		{Domain{Name: "a.example", Enabled: false}, acct(), ServiceIMAP, true}, // Enabled is Authenticate's
	} {
		if got := ServiceAllowed(c.d, c.a, c.svc); got != c.want {
			t.Errorf("ServiceAllowed(domain %s off %q, account off %q, %q) = %v, want %v",
				c.d.Name, c.d.DisabledServices, c.a.DisabledServices, c.svc, got, c.want)
		}
	}
}
