package e2e

import (
	"bufio"
	"context"
	"io"
	"net/textproto"
	"strings"

	"mailgrid/internal/app"
	"mailgrid/internal/config"
	"mailgrid/internal/mail"
	"mailgrid/internal/obs"
	"mailgrid/internal/store"
)

// storedMessage is one message read back from a stopped node's store.
type storedMessage struct {
	Mailbox string
	UID     store.UID
	Header  textproto.MIMEHeader
	Raw     string
}

// Mailbox reads every message of addr's mailbox from the node's data directory. The node
// must be stopped (this opens the storage as the offline CLI does).
func (n *Node) Mailbox(addr, mailbox string) []storedMessage {
	n.t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(n.ConfigFile)
	if err != nil {
		n.t.Fatal(err)
	}
	sys, err := app.Open(ctx, cfg, obs.Discard())
	if err != nil {
		n.t.Fatal(err)
	}
	defer func() {
		if err := sys.Close(); err != nil {
			n.t.Error(err)
		}
	}()
	a, err := sys.Dir.Account(ctx, mail.MustParse(addr))
	if err != nil {
		n.t.Fatalf("account %s: %v", addr, err)
	}
	st, err := sys.Shards.Shard(a.Shard)
	if err != nil {
		n.t.Fatal(err)
	}
	ref := store.AccountRef{Domain: a.Address.Domain, ID: a.ID}
	mb, err := st.Mailbox(ctx, ref, mailbox)
	if err != nil {
		n.t.Fatalf("mailbox %s of %s: %v", mailbox, addr, err)
	}
	var out []storedMessage
	err = st.Messages(ctx, ref, mb.ID, store.Query{}, func(m store.Message) error {
		b, err := st.OpenBlob(ctx, ref, m.ID)
		if err != nil {
			return err
		}
		raw, err := io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
		if cerr := b.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(string(raw)))).ReadMIMEHeader()
		if err != nil && len(h) == 0 {
			return err
		}
		out = append(out, storedMessage{Mailbox: mailbox, UID: m.UID, Header: h, Raw: string(raw)})
		return nil
	})
	if err != nil {
		n.t.Fatalf("messages of %s: %v", addr, err)
	}
	return out
}
