package smtpserver

import (
	"crypto/tls"
	"fmt"
	"strings"

	"mailgrid/internal/message"
)

// received builds the Received header field of RFC 5321 4.4:
//
//	Received: from HELO ([IP])
//		by HOSTNAME (mailgrid) with ESMTPSA (TLS1.3 TLS_AES_128_GCM_SHA256) id ID
//		for <rcpt>; DATE
//
// The client is named by its HELO and IP address only: mailgrid does no reverse DNS at
// receipt. The protocol name follows RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA) and
// RFC 6531 3.7.3 (UTF8SMTP...). "for" is given only for a single recipient, so the
// header never discloses the other recipients of a message.
func (sess *session) received(id string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s (%s)\r\n", sanitizeHelo(sess.conn.Hostname(), sess.env.SMTPUTF8), ipLiteral(sess.st))
	fmt.Fprintf(&b, "\tby %s (mailgrid) with %s", sess.srv.opt.Hostname, sess.protocol())
	if sess.tls != nil {
		fmt.Fprintf(&b, " (%s %s)", tls.VersionName(sess.tls.Version), tls.CipherSuiteName(sess.tls.CipherSuite))
	}
	fmt.Fprintf(&b, " id %s", id)
	if rs := sess.env.Recipients; len(rs) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", rs[0].Addr.String())
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", message.FormatDate(sess.env.Received))
	return []byte(b.String())
}

func (sess *session) protocol() string {
	p := "ESMTP"
	if sess.env.SMTPUTF8 {
		p = "UTF8SMTP"
	}
	if sess.tls != nil {
		p += "S"
	}
	if sess.acct != nil {
		p += "A"
	}
	return p
}

func ipLiteral(st *connState) string {
	if !st.ip.IsValid() {
		return "unknown"
	}
	if st.ip.Is6() {
		return "[IPv6:" + st.ip.String() + "]" // RFC 5321 4.1.3
	}
	return "[" + st.ip.String() + "]"
}

// sanitizeHelo keeps the client's HELO argument from breaking the header: only printable
// characters that cannot close the comment or start a new field survive, and UTF-8 only in
// an SMTPUTF8 message (RFC 6532).
func sanitizeHelo(s string, utf8 bool) string {
	if s == "" {
		return "unknown"
	}
	var b strings.Builder
	for _, r := range s {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && !utf8) || strings.ContainsRune("()\\\";", r) {
			r = '?'
		}
		b.WriteRune(r)
		if b.Len() > 255 {
			break
		}
	}
	return b.String()
}
