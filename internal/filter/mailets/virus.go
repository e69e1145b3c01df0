package mailets

import (
	"context"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/clamd"
	"mailgrid/internal/message/body"
)

// Virus scans the message with clamd. Infected: every recipient's copy is quarantined
// ("virus <signature>"), never delivered. Clean: the message is tagged
// "X-Mailgrid-Virus: clean (clamd)". Not scanned (clamd unreachable, over its size
// limit, an ERROR reply): Service returns the error and the rule's Policy decides —
// fail-closed (451 4.7.1) or fail-open (delivered, tagged X-Mailgrid-Filter-Failed);
// never "clean". A per-domain switch is a rule in that domain's chain.
type Virus struct {
	Client *clamd.Client
}

// Name implements filter.Mailet.
func (v *Virus) Name() string { return "virus" }

// Health implements filter.HealthChecker (clamd PING).
func (v *Virus) Health(ctx context.Context) error { return v.Client.Ping(ctx) }

// Service implements filter.Mailet.
func (v *Virus) Service(ctx context.Context, m *filter.Mail) error {
	if err := m.Message.RemoveHeader(HeaderVirus); err != nil {
		return err
	}
	res, err := v.Client.Scan(ctx, body.Reader(m.Message.Body()))
	if err != nil {
		return err
	}
	if !res.Infected {
		return m.Message.AddHeader(HeaderVirus, "clean (clamd)")
	}
	if err := m.Message.AddHeader(HeaderVirus, "infected ("+res.Virus+")"); err != nil {
		return err
	}
	for _, r := range active(m) {
		r.Quarantine("virus " + res.Virus)
	}
	return nil
}
