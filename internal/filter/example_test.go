package filter_test

import (
	"context"
	"fmt"
	"strings"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
)

// BlockList is the worked example of docs/mailets.md: a domain block list. Mail from a
// blocked sender domain is refused with 550 5.7.1; mail whose subject carries a
// configured word is tagged and filed in Junk.
type BlockList struct {
	Senders []string // blocked sender domains
	Words   []string // subject words that mark junk
}

// Name implements filter.Mailet.
func (b *BlockList) Name() string { return "blocklist" }

// Service implements filter.Mailet.
func (b *BlockList) Service(ctx context.Context, m *filter.Mail) error {
	for _, d := range b.Senders {
		if m.Envelope.From.Domain == d {
			for _, r := range m.Recipients {
				r.Reject(filter.RejectPolicy("sender domain blocked"))
			}
			return nil
		}
	}
	subjects, err := m.Message.Header("Subject")
	if err != nil {
		return err // the rule's Policy applies
	}
	for _, s := range subjects {
		for _, w := range b.Words {
			if strings.Contains(strings.ToLower(s), w) {
				if err := m.Message.AddHeader("X-Blocklist", "subject word "+w); err != nil {
					return err
				}
				for _, r := range m.Recipients {
					r.KeepIn("Junk")
				}
				return nil
			}
		}
	}
	return nil
}

func Example() {
	chains := filter.NewChains(nil)
	err := chains.Add(filter.StageData, "example.org", filter.Rule{
		Mailet: &BlockList{Senders: []string{"spam.example"}, Words: []string{"lottery"}},
		Policy: filter.FailOpen,
	})
	if err != nil {
		panic(err)
	}
	run := func(from, subject string) {
		rcpt := mail.MustParse("user@example.org")
		m := filter.NewMail(filter.StageData, &filter.Envelope{From: mail.MustParse(from)},
			filter.NewMessage(body.Bytes("Subject: "+subject+"\r\n\r\nhi\r\n")),
			[]*filter.Recipient{{Addr: rcpt, Orig: rcpt}})
		if err := chains.Run(context.Background(), m); err != nil {
			panic(err)
		}
		f := m.Recipients[0].Fate
		fmt.Printf("%v %d %v by=%q\n", f.Kind, f.Reply.Code, f.Filings(), f.By)
	}
	run("x@spam.example", "hello")
	run("y@friend.example", "You won the LOTTERY")
	run("y@friend.example", "lunch")
	// Output:
	// reject 550 [] by="blocklist"
	// deliver 0 [{Junk []}] by=""
	// deliver 0 [{ []}] by=""
}
