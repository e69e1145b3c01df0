package imapserver

import (
	"context"
	"slices"
	"strings"

	"mailgrid/internal/store"
)

// cmdStatus: RFC 9051 6.3.11, with SIZE (RFC 8438) and HIGHESTMODSEQ (RFC 7162 3.1.6).
func cmdStatus(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	name, err := s.mailboxArg()
	if err != nil {
		return err
	}
	if err := s.p.sp(); err != nil {
		return err
	}
	items, err := s.statusItems()
	if err != nil {
		return err
	}
	if err := s.p.end(); err != nil {
		return err
	}
	mb, err := s.st.Mailbox(context.Background(), s.ref, name)
	if err != nil {
		return storeError(err, "STATUS")
	}
	if err := s.writeStatus(mb, items); err != nil {
		return storeError(err, "STATUS")
	}
	return nil
}

// statusItems parses "(" status-att *(SP status-att) ")".
func (s *session) statusItems() ([]string, error) {
	var items []string
	err := s.p.list(func() error {
		a, err := s.p.atom()
		if err != nil {
			return err
		}
		a = strings.ToUpper(a)
		switch a {
		case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ", "APPENDLIMIT":
			items = append(items, a)
			return nil
		}
		return bad("unknown STATUS item %s", a)
	})
	if err == nil && len(items) == 0 {
		err = bad("empty STATUS item list")
	}
	return items, err
}

// writeStatus writes "* STATUS name (...)" for mb.
func (s *session) writeStatus(mb store.Mailbox, items []string) error {
	deleted := 0
	if slices.Contains(items, "DELETED") {
		err := s.st.Messages(context.Background(), s.ref, mb.ID, store.Query{NoMeta: true}, func(m store.Message) error {
			if slices.Contains(m.Flags, store.FlagDeleted) {
				deleted++
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if slices.Contains(items, "HIGHESTMODSEQ") && !s.enabled.condstore {
		s.enabled.condstore = true // RFC 7162 3.1: a CONDSTORE-enabling command
	}
	s.w.raw("* STATUS ")
	s.w.astr(s.encodeMailbox(mb.Name))
	s.w.raw(" (")
	for i, it := range items {
		if i > 0 {
			s.w.byte(' ')
		}
		s.w.raw(it + " ")
		switch it {
		case "MESSAGES":
			s.w.num(uint64(mb.Messages))
		case "UIDNEXT":
			s.w.num(uint64(mb.UIDNext))
		case "UIDVALIDITY":
			s.w.num(uint64(mb.UIDValidity))
		case "UNSEEN":
			s.w.num(uint64(mb.Unseen))
		case "DELETED":
			s.w.num(uint64(deleted))
		case "SIZE":
			s.w.num(uint64(mb.Size))
		case "RECENT":
			s.w.num(0) // no \Recent (removed in IMAP4rev2)
		case "HIGHESTMODSEQ":
			s.w.num(mb.HighestModSeq)
		case "APPENDLIMIT":
			s.w.num(uint64(s.srv.opt.MaxLiteralSize)) // RFC 7889 4
		}
	}
	s.w.raw(")\r\n")
	return nil
}

// cmdGetQuota: GETQUOTA and GETQUOTAROOT (RFC 9208 4.1.1, 4.1.2). There is one quota root,
// "", the account's: STORAGE in KiB and MESSAGE from the directory's quota and the
// store's usage. Accounts without limits have no quota root.
func cmdGetQuota(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	var mailbox string
	if c.name == "GETQUOTAROOT" {
		name, err := s.mailboxArg()
		if err != nil {
			return err
		}
		mailbox = name
	} else {
		root, err := s.p.astring()
		if err != nil {
			return err
		}
		if root != "" {
			if err := s.p.end(); err != nil {
				return err
			}
			return no(codeNonexistent, "no such quota root")
		}
	}
	if err := s.p.end(); err != nil {
		return err
	}
	ctx := context.Background()
	if mailbox != "" {
		if _, err := s.st.Mailbox(ctx, s.ref, mailbox); err != nil {
			return storeError(err, c.name)
		}
	}
	acct, err := s.srv.opt.Directory.Account(ctx, s.acct.Address)
	if err != nil {
		return storeError(err, c.name)
	}
	usage, err := s.st.Usage(ctx, s.ref)
	if err != nil {
		return storeError(err, c.name)
	}
	limited := acct.QuotaBytes > 0 || acct.QuotaMessages > 0
	if c.name == "GETQUOTAROOT" {
		s.w.raw("* QUOTAROOT ")
		s.w.astr(s.encodeMailbox(mailbox))
		if limited {
			s.w.raw(` ""`)
		}
		s.w.raw("\r\n")
		if !limited {
			return nil
		}
	} else if !limited {
		return no(codeNonexistent, "no such quota root")
	}
	var res []string
	if acct.QuotaBytes > 0 {
		res = append(res, "STORAGE "+itoa((usage.Bytes+1023)/1024)+" "+itoa(acct.QuotaBytes/1024))
	}
	if acct.QuotaMessages > 0 {
		res = append(res, "MESSAGE "+itoa(usage.Messages)+" "+itoa(acct.QuotaMessages))
	}
	s.w.raw(`* QUOTA "" (` + strings.Join(res, " ") + ")\r\n")
	return nil
}

// cmdSetQuota: SETQUOTA (RFC 9208 4.1.3). Quotas are set by the administrator, not by users.
func cmdSetQuota(s *session, c *command) error {
	return no("NOPERM", "quotas are set by the administrator")
}
