package filter

import "context"

// Switches are a domain's filter switches: a domain administrator may turn the virus
// scanner or the spam filters off for the domain's recipients (the zero value: both on).
type Switches struct {
	NoAntivirus bool `json:"no_antivirus"` // Virus (clamd) and antivirus milters
	NoAntispam  bool `json:"no_antispam"`  // Rspamd and Bayes
}

// DomainSwitches stores each domain's Switches. It is optional: a driver that lacks it
// leaves every filter on.
type DomainSwitches interface {
	// DomainSwitches returns the domain's switches (the zero value when never set).
	DomainSwitches(ctx context.Context, domain string) (Switches, error)
	// SetDomainSwitches sets them.
	SetDomainSwitches(ctx context.Context, domain string, s Switches) error
}

// Service names for SwitchedOn.
const (
	ServiceAntivirus = "antivirus"
	ServiceAntispam  = "antispam"
)

// SwitchedOn matches the recipients whose domain has service on (at StageRemote and
// StageMail: the sender's domain, as Chains scopes them). A nil store matches all.
func SwitchedOn(store DomainSwitches, service string) Matcher {
	return MatcherFunc(func(ctx context.Context, m *Mail, r *Recipient) (bool, error) {
		if store == nil {
			return true, nil
		}
		s, err := store.DomainSwitches(ctx, scope(m, r))
		if err != nil {
			return false, err
		}
		switch service {
		case ServiceAntivirus:
			return !s.NoAntivirus, nil
		case ServiceAntispam:
			return !s.NoAntispam, nil
		}
		return true, nil
	})
}
