package mailets

import (
	"context"
	"fmt"
	"strings"

	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/filter"
	"mailgrid/internal/mailauth"
	"mailgrid/internal/message/body"
)

// DKIMSign signs outbound mail of authenticated submitters with the DKIM keys of their
// domain (RFC 6376 5), one DKIM-Signature field per active key (Ed25519 and RSA side by
// side, RFC 8463 6), prepended to the header through the header-edit view. It runs at the
// remote stage, once over the remote recipients, after every other edit, so the
// signature covers the message as it is queued.
//
// The signing domain (d=) is the submitter's domain: mail with a From of that domain
// aligns for DMARC (RFC 7489 3.1.1), and a tenant's key never vouches for a From of
// another tenant (the directory does not say which other domains an account may send
// as). Mail from the Internet and mail of a domain without keys is left alone.
type DKIMSign struct {
	Keys dkimkeys.Keys
}

// Name implements filter.Mailet.
func (s *DKIMSign) Name() string { return "dkim-sign" }

// Stages implements filter.Stager: signing is the last edit before the queue.
func (s *DKIMSign) Stages() []filter.Stage { return []filter.Stage{filter.StageRemote} }

// Service implements filter.Mailet.
func (s *DKIMSign) Service(ctx context.Context, m *filter.Mail) error {
	acct := m.Envelope.Account
	if acct == nil || len(active(m)) == 0 {
		return nil
	}
	domain := acct.Address.Domain
	keys, err := s.Keys.Active(ctx, domain)
	if err != nil || len(keys) == 0 {
		return err
	}
	sigs, err := mailauth.SignDKIM(body.Reader(m.Message.Body()), keys...)
	if err != nil {
		return err
	}
	for _, f := range splitFields(sigs) {
		if err := m.Message.AddRaw(f); err != nil {
			return fmt.Errorf("dkim-sign: %w", err)
		}
	}
	m.Logger.Debug("dkim signed", "domain", domain, "keys", len(keys), "id", m.Envelope.ID)
	return nil
}

// splitFields splits SignDKIM's output (fields ending in CRLF, continuation lines
// starting with white space, RFC 5322 2.2.3) into single fields.
func splitFields(s string) []string {
	var out []string
	for s != "" {
		end := len(s)
		for i := strings.Index(s, "\r\n"); i >= 0; {
			next := i + 2
			if next >= len(s) || (s[next] != ' ' && s[next] != '\t') {
				end = next
				break
			}
			j := strings.Index(s[next:], "\r\n")
			if j < 0 {
				break
			}
			i = next + j
		}
		out, s = append(out, s[:end]), s[end:]
	}
	return out
}
