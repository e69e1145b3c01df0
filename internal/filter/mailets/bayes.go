package mailets

import (
	"context"
	"fmt"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/bayes"
	"mailgrid/internal/store"
)

// Bayes classifies a local copy with its account's own classifier (package bayes) at
// the account's spam level (filter.Settings: the account's, else its domain's default).
// A message judged spam, or flagged spam by an earlier mailet (X-Spam-Flag: YES from
// Rspamd), is filed in Junk unless the level is off; the verdict is recorded in
// X-Mailgrid-Bayes. A classifier not trained enough (bayes.MinTrained messages of each
// class) abstains. Training on moves into and out of Junk is the IMAP and webmail
// front-ends' job, through the same filter.Tokens.
type Bayes struct {
	Settings filter.Settings
	Tokens   filter.Tokens
	Options  bayes.Options
}

// Name implements filter.Mailet.
func (b *Bayes) Name() string { return "bayes" }

// Stages implements filter.Stager: the classifier and the level are per account.
func (b *Bayes) Stages() []filter.Stage { return []filter.Stage{filter.StageLocal} }

// Service implements filter.Mailet.
func (b *Bayes) Service(ctx context.Context, m *filter.Mail) error {
	acct := store.AccountRef{Domain: m.Account.Address.Domain, ID: m.Account.ID}
	level, err := b.Settings.SpamLevel(ctx, acct)
	if err != nil {
		return err
	}
	if err := m.Message.RemoveHeader(HeaderBayes); err != nil {
		return err
	}
	if level == bayes.LevelOff {
		return m.Message.AddHeader(HeaderBayes, "off")
	}
	flagged, err := isSpamFlagged(m)
	if err != nil {
		return err
	}
	v, err := bayes.New(b.Tokens.Tokens(acct), b.Options).Classify(ctx, m.Message.Body())
	if err != nil {
		return err
	}
	verdict := "untrained"
	if v.Ready {
		verdict = "ham"
		if v.IsSpam(level) {
			verdict = "spam"
		}
	}
	if err := m.Message.AddHeader(HeaderBayes, fmt.Sprintf("%s, prob=%.3f level=%s", verdict, v.Prob, level)); err != nil {
		return err
	}
	if verdict == "spam" || flagged {
		for _, r := range active(m) {
			r.KeepIn(JunkMailbox)
		}
	}
	return nil
}
