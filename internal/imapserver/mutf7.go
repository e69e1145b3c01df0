package imapserver

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 5.1.3) is how IMAP4rev1 clients without UTF8=ACCEPT spell
// non-ASCII mailbox names: printable ASCII stands for itself ("&" is "&-"), anything else
// is UTF-16BE in modified base64 (RFC 2152 with "," for "/") between "&" and "-".

var mutf7Enc = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

var errBadMUTF7 = errors.New("invalid modified UTF-7")

// decodeMUTF7 decodes a modified UTF-7 name strictly: only printable ASCII outside shifted
// runs, every "&" closed by "-", base64 with no padding bits set and a whole number of
// UTF-16 units, valid surrogate pairs, and no shifted run that encodes printable ASCII (a
// second spelling of a name would let two mailboxes look alike).
func decodeMUTF7(s string) (string, error) {
	if !strings.Contains(s, "&") {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", errBadMUTF7
			}
		}
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errBadMUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", errBadMUTF7
		}
		run := s[i+1 : i+1+j]
		i += j + 1
		if run == "" {
			b.WriteByte('&')
			continue
		}
		dec, err := decodeShifted(run)
		if err != nil {
			return "", err
		}
		b.WriteString(dec)
	}
	return b.String(), nil
}

func decodeShifted(run string) (string, error) {
	raw, err := mutf7Enc.Strict().DecodeString(run)
	if err != nil || len(raw)%2 != 0 || len(raw) == 0 {
		return "", errBadMUTF7
	}
	units := make([]uint16, len(raw)/2)
	for k := range units {
		units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
	}
	var b strings.Builder
	for k := 0; k < len(units); k++ {
		u := units[k]
		switch {
		case utf16.IsSurrogate(rune(u)):
			if k+1 >= len(units) {
				return "", errBadMUTF7
			}
			r := utf16.DecodeRune(rune(u), rune(units[k+1]))
			if r == utf8.RuneError {
				return "", errBadMUTF7
			}
			b.WriteRune(r)
			k++
		case u >= 0x20 && u <= 0x7e:
			return "", errBadMUTF7 // printable ASCII must not be shifted
		default:
			b.WriteRune(rune(u))
		}
	}
	return b.String(), nil
}

// encodeMUTF7 encodes a UTF-8 name in modified UTF-7.
func encodeMUTF7(s string) string {
	var b strings.Builder
	var pending []rune
	flush := func() {
		if len(pending) == 0 {
			return
		}
		units := utf16.Encode(pending)
		raw := make([]byte, 2*len(units))
		for k, u := range units {
			raw[2*k], raw[2*k+1] = byte(u>>8), byte(u)
		}
		b.WriteByte('&')
		b.WriteString(mutf7Enc.EncodeToString(raw))
		b.WriteByte('-')
		pending = pending[:0]
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				b.WriteString("&-")
			} else {
				b.WriteRune(r)
			}
			continue
		}
		pending = append(pending, r)
	}
	flush()
	return b.String()
}
