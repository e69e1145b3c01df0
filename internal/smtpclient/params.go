package smtpclient

import (
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-smtp"

	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

// checkExtensions refuses what the server cannot take before MAIL FROM.
func (c *Client) checkExtensions(sc *smtp.Client, host string, tx *txn, utf8 bool) error {
	// RFC 1870 6.1: do not send a message larger than the server's declared maximum.
	if max, ok := sc.MaxMessageSize(); ok && max > 0 && tx.body.Size() > int64(max) {
		de := permErr("5.3.4", fmt.Sprintf("message size %d exceeds the limit %d of %s", tx.body.Size(), max, host))
		de.RemoteMTA = host
		return de
	}
	// RFC 6531 3.4: a message that needs SMTPUTF8 cannot go to a server without it.
	if ok, _ := sc.Extension("SMTPUTF8"); utf8 && !ok {
		de := permErr("5.6.7", host+" does not support SMTPUTF8, which this message needs")
		de.RemoteMTA = host
		return nextHost(de)
	}
	// RFC 6152 3: 8-bit data to a server without 8BITMIME is returned, not converted.
	if ok, _ := sc.Extension("8BITMIME"); !ok {
		eight, err := has8bit(tx.body)
		if err != nil {
			return tempErr("4.3.0", "reading the queued message", err)
		}
		if eight {
			de := permErr("5.6.3", host+" does not support 8BITMIME, which this message needs")
			de.RemoteMTA = host
			return nextHost(de)
		}
	}
	return nil
}

// needsUTF8 reports whether the transaction needs SMTPUTF8 (RFC 6531 3.2).
func needsUTF8(tx *txn) bool {
	if tx.env.SMTPUTF8 || !isASCII(tx.env.From) {
		return true
	}
	for _, r := range tx.rcpts {
		if !isASCII(r.Addr) {
			return true
		}
	}
	return false
}

// mailOptions carries the envelope's parameters to MAIL FROM. go-smtp adds
// BODY=8BITMIME itself when offered, and sends RET/ENVID only to a server with DSN.
func mailOptions(tx *txn, utf8 bool) *smtp.MailOptions {
	o := &smtp.MailOptions{Size: tx.body.Size(), UTF8: utf8}
	switch strings.ToUpper(tx.env.Ret) { // RFC 3461 4.3
	case "FULL":
		o.Return = smtp.DSNReturnFull
	case "HDRS":
		o.Return = smtp.DSNReturnHeaders
	}
	if printableASCII(tx.env.EnvID) { // RFC 3461 4.4
		o.EnvelopeID = tx.env.EnvID
	}
	return o
}

// rcptOptions relays the recipient's DSN parameters (RFC 3461 4.1, 4.2).
func rcptOptions(r queue.Recipient) *smtp.RcptOptions {
	o := &smtp.RcptOptions{Notify: notify(r.Notify)}
	typ, addr, ok := strings.Cut(r.ORcpt, ";")
	if !ok || addr == "" {
		return o
	}
	switch strings.ToLower(strings.TrimSpace(typ)) {
	case "rfc822":
		if printableASCII(addr) {
			o.OriginalRecipientType, o.OriginalRecipient = smtp.DSNAddressTypeRFC822, addr
		}
	case "utf-8":
		o.OriginalRecipientType, o.OriginalRecipient = smtp.DSNAddressTypeUTF8, addr
	}
	return o
}

// notify keeps the valid NOTIFY keywords; NEVER excludes the others (RFC 3461 4.1).
func notify(in []string) []smtp.DSNNotify {
	var out []smtp.DSNNotify
	for _, n := range in {
		switch n = strings.ToUpper(n); n {
		case queue.NotifyNever:
			return []smtp.DSNNotify{smtp.DSNNotifyNever}
		case queue.NotifySuccess, queue.NotifyFailure, queue.NotifyDelay:
			out = append(out, smtp.DSNNotify(n))
		}
	}
	return out
}

// has8bit reports whether the body holds any octet above 127.
func has8bit(body store.Body) (bool, error) {
	buf := make([]byte, 32<<10)
	r := io.NewSectionReader(body, 0, body.Size())
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			if c >= 0x80 {
				return true, nil
			}
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
