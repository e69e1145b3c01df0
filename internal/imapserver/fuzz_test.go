package imapserver

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"

	"mailgrid/internal/store"
)

// FuzzParseCommand feeds arbitrary bytes to the command parser and the argument parsers
// of the commands with the richest grammar (FETCH items, SEARCH keys, STORE, sequence
// sets, mailbox names). It must never panic, loop or read past its bounds, and an
// error must be a *respError or an I/O error. The corpus is in testdata/fuzz.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"a1 FETCH 1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.100> BINARY[2] MODSEQ)\r\n",
		"a2 UID SEARCH RETURN (MIN MAX) CHARSET UTF-8 OR (FROM {3+}\r\nbob) NOT SEEN UID 1:5,$\r\n",
		"a3 STORE 1,2 (UNCHANGEDSINCE 9) +FLAGS.SILENT (\\Seen $Work)\r\n",
		"a4 LIST (SUBSCRIBED) \"\" (% INBOX/*) RETURN (STATUS (MESSAGES))\r\n",
		"a5 SELECT &Jjo- (QRESYNC (1 2 1:9 (1:3 1:3)))\r\n",
		"a6 APPEND INBOX (\\Seen) \"14-Mar-2026 10:00:00 +0000\" ~{5}\r\nab\x00cd\r\n",
		"a7 LOGIN {2000000}\r\n",
		"a8 X \"\\\r\n",
		"* X\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &session{enabled: enabled{qresync: true}}
		s.p = newParser(bufio.NewReader(bytes.NewReader(in)), func() error { return nil }, 4096, 1<<16)
		s.w = &writer{bw: bufio.NewWriter(&bytes.Buffer{})}
		for i := 0; i < 20; i++ { // a few commands from one input
			err := fuzzOne(s)
			var re *respError
			if err != nil && !errors.As(err, &re) {
				return // I/O: input exhausted
			}
			if re != nil && re.close {
				return
			}
			if re != nil && !re.noCont {
				if err := s.p.skipCommand(); err != nil {
					return
				}
			}
		}
	})
}

func fuzzOne(s *session) error {
	p := s.p
	if err := p.begin(); err != nil {
		return err
	}
	if _, err := p.tag(); err != nil {
		return err
	}
	if err := p.sp(); err != nil {
		return err
	}
	name, err := p.atom()
	if err != nil {
		return err
	}
	if strings.EqualFold(name, "UID") {
		if err := p.sp(); err != nil {
			return err
		}
		if name, err = p.atom(); err != nil {
			return err
		}
	}
	if err := p.sp(); err != nil {
		return err
	}
	switch strings.ToUpper(name) {
	case "FETCH":
		if _, err := p.seqSet(); err != nil {
			return err
		}
		if err := p.sp(); err != nil {
			return err
		}
		if _, err := s.fetchAtts(); err != nil {
			return err
		}
		if p.take(' ') {
			if _, err := s.fetchModifiers(true); err != nil {
				return err
			}
		}
	case "SEARCH":
		if _, err := s.searchReturnOpts(); err != nil {
			return err
		}
		if _, err := s.searchCriteria(); err != nil {
			return err
		}
	case "STORE":
		if _, err := p.seqSet(); err != nil {
			return err
		}
		if err := p.sp(); err != nil {
			return err
		}
		var u = new(storeUpdate)
		if _, err := s.storeAtt(&u.FlagUpdate); err != nil {
			return err
		}
	case "LIST":
		p.pos-- // parseList reads the leading space itself
		if _, err := s.parseList(false); err != nil {
			return err
		}
		return nil
	case "SELECT":
		if _, err := s.mailboxArg(); err != nil {
			return err
		}
		if _, _, err := s.selectParams(); err != nil {
			return err
		}
	default:
		if _, err := s.mailboxArg(); err != nil {
			return err
		}
	}
	return p.end()
}

type storeUpdate struct{ FlagUpdate store.FlagUpdate }
