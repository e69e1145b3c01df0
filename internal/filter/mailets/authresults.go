package mailets

import (
	"context"
	"fmt"
	"net"
	"strings"

	"mailgrid/internal/dns"
	"mailgrid/internal/filter"
	"mailgrid/internal/mailauth"
)

// AuthResults authenticates mail from the Internet (SPF, DKIM, DMARC via
// mailauth.Check) and records the verdict in an Authentication-Results field (RFC 8601).
// For every message, submissions included, fields that claim our authserv-id are
// removed first (RFC 8601 5: a forged one could otherwise pass as ours); fields of other
// authserv-ids are kept. Mail from authenticated submitters and mail mailgrid generated
// is not checked (its sender is known).
type AuthResults struct {
	Resolver   dns.Resolver
	AuthServID string // our host name (RFC 8601 2.5)
	// EnforceDMARC rejects (550 5.7.1) a message whose DMARC disposition is reject
	// (RFC 7489 6.6.3, 10.3: the receiver may honour the policy); quarantine
	// dispositions file the message in Junk. Off: the verdict is only recorded.
	EnforceDMARC bool
}

// Name implements filter.Mailet.
func (a *AuthResults) Name() string { return "auth-results" }

// Stages implements filter.Stager: authentication reads the message as received.
func (a *AuthResults) Stages() []filter.Stage { return []filter.Stage{filter.StageData} }

// Service implements filter.Mailet.
func (a *AuthResults) Service(ctx context.Context, m *filter.Mail) error {
	if err := m.Message.RemoveFields(func(name, value string) bool {
		return strings.EqualFold(name, "Authentication-Results") && mailauth.ClaimsAuthServID(value, a.AuthServID)
	}); err != nil {
		return err
	}
	env := m.Envelope
	if env.Account != nil || env.Internal {
		return nil
	}
	var ip net.IP
	if env.ClientIP.IsValid() {
		ip = net.IP(env.ClientIP.Unmap().AsSlice())
	}
	res, err := mailauth.Check(ctx, mailauth.Params{
		Resolver: a.Resolver, Now: m.Now, Logger: m.Logger, AuthServID: a.AuthServID,
		ClientIP: ip, HELO: env.HELO, MailFrom: env.From, Body: m.Message.Body(),
	})
	if err != nil {
		return err
	}
	if err := m.Message.AddRaw(res.Header); err != nil {
		return fmt.Errorf("auth-results: %w", err)
	}
	if !a.EnforceDMARC || res.DMARC.Status != mailauth.StatusFail {
		return nil
	}
	for _, r := range active(m) {
		switch res.DMARC.Disposition {
		case mailauth.PolicyReject:
			r.Reject(filter.RejectPolicy("DMARC policy of " + res.DMARC.FromDomain + " rejects this message"))
		case mailauth.PolicyQuarantine:
			r.KeepIn(JunkMailbox)
		}
	}
	return nil
}
