package message

import (
	"crypto/rand"
	"encoding/base32"
	"strconv"
	"strings"
	"time"
)

// foldWidth is where AppendField folds: RFC 5322 2.1.1 SHOULD keep lines within 78
// characters (excluding CRLF).
const foldWidth = 78

// AppendField appends the header field "Name: value" CRLF to dst and returns it, folding
// long values at spaces (RFC 5322 2.2.3) so lines stay within 78 characters where
// the value allows. CR and LF in value are replaced by spaces so a value can never end
// the field early (header injection). Use it for trace fields (Received, Return-Path) and
// fields added on submission (Message-ID, Date) before delivery.Prepend-ing them.
func AppendField(dst []byte, name, value string) []byte {
	value = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, value)
	dst = append(dst, name...)
	dst = append(dst, ':')
	lineLen := len(name) + 1
	for i, word := range strings.Split(value, " ") {
		if word == "" && i > 0 {
			continue // collapse runs of spaces from the replaced CR LF
		}
		if i > 0 && lineLen+1+len(word) > foldWidth && lineLen > 1 {
			dst = append(dst, "\r\n "...) // the space is the value's own: unfolding restores it
			lineLen = 1
		} else {
			dst = append(dst, ' ')
			lineLen++
		}
		dst = append(dst, word...)
		lineLen += len(word)
	}
	return append(dst, "\r\n"...)
}

// NewMessageID returns a new, globally unique msg-id with angle brackets, as the value of
// a Message-ID field (RFC 5322 3.6.4): "<time.random@host>".
func NewMessageID(host string) string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand.Read never fails on supported platforms (Go 1.24+); keep the
		// id unique by time alone if it ever did.
		return "<" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@" + host + ">"
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	return "<" + strconv.FormatInt(time.Now().Unix(), 36) + "." +
		strings.ToLower(enc.EncodeToString(b[:])) + "@" + host + ">"
}

// FormatDate formats t as a date-time (RFC 5322 3.3): "Mon, 02 Jan 2006 15:04:05 -0700".
func FormatDate(t time.Time) string {
	return t.Format("Mon, 02 Jan 2006 15:04:05 -0700")
}
