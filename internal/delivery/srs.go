package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// SRS is the Sender Rewriting Scheme for mail mailgrid forwards (a redirect, an alias
// that forwards off-site): the envelope sender of the forwarded copy becomes an address
// of the forwarding domain, so the next hop's SPF check (RFC 7208) sees a domain that
// authorises us, and bounces come back to us, who send them on to the original sender.
//
// Format (Shevek's SRS0 scheme, as postsrsd writes it):
//
//	SRS0=HHHH=TT=orig.domain=orig-local@forwarding.domain
//
// TT is the day (days since the Unix epoch, modulo 1024, two base32 characters) and HHHH
// the first four base32 characters of HMAC-SHA256(secret, TT + orig.domain + orig-local),
// lower case: MTAs that fold the local part keep it valid. A bounce to such an address
// is accepted when the hash matches and the day is at most MaxAge old; it is routed to
// the original sender. Forged or expired ones are unknown users (550 5.1.1).
//
// Addresses already in SRS form (from a forwarder before us) and senders of our own
// domains are not rewritten, nor the null sender; a result whose local part would pass
// 64 octets (RFC 5321 4.5.3.1.1) keeps the original sender.
type SRS struct {
	Secret []byte
	MaxAge time.Duration // 0 = 21 days
	Now    func() time.Time
}

var srsEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

const srsPrefix = "srs0="

func (s *SRS) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *SRS) hash(tt, domain, local string) string {
	m := hmac.New(sha256.New, s.Secret)
	m.Write([]byte(strings.ToLower(tt + domain + local)))
	return strings.ToLower(srsEnc.EncodeToString(m.Sum(nil))[:4])
}

func srsDay(t time.Time) string {
	d := (t.Unix() / 86400) % 1024
	return strings.ToLower(string([]byte{srsAlphabet[d>>5], srsAlphabet[d&31]}))
}

// srsAlphabet is base32's alphabet (RFC 4648 6), lower-cased where used.
const srsAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// Forward returns the rewritten sender for a copy forwarded by domain, or from itself
// when it is not to be rewritten.
func (s *SRS) Forward(from mail.Address, domain string) mail.Address {
	if s == nil || len(s.Secret) == 0 || from.IsZero() || strings.HasPrefix(strings.ToLower(from.Local), srsPrefix) ||
		strings.HasPrefix(strings.ToLower(from.Local), "srs1=") {
		return from
	}
	tt := srsDay(s.now())
	local := "SRS0=" + s.hash(tt, from.Domain, from.Local) + "=" + tt + "=" + from.Domain + "=" + from.Local
	if len(local) > 64 {
		return from
	}
	a, err := mail.Parse(local + "@" + domain)
	if err != nil {
		return from // a local part that does not survive the rewrite keeps the original
	}
	return a
}

var errSRS = errors.New("not a valid SRS address")

// Reverse returns the original sender an SRS address of ours stands for. It fails for
// an address that is not SRS0, whose hash does not match or whose day is too old.
func (s *SRS) Reverse(a mail.Address) (mail.Address, error) {
	if s == nil || len(s.Secret) == 0 || !strings.HasPrefix(strings.ToLower(a.Local), srsPrefix) {
		return mail.Address{}, errSRS
	}
	parts := strings.SplitN(a.Local[len(srsPrefix):], "=", 4)
	if len(parts) != 4 {
		return mail.Address{}, errSRS
	}
	h, tt, domain, local := strings.ToLower(parts[0]), strings.ToLower(parts[1]), parts[2], parts[3]
	if subtle.ConstantTimeCompare([]byte(h), []byte(s.hash(tt, domain, local))) != 1 {
		return mail.Address{}, errSRS
	}
	if len(tt) != 2 {
		return mail.Address{}, errSRS
	}
	hi, lo := strings.IndexByte(srsAlphabet, upper(tt[0])), strings.IndexByte(srsAlphabet, upper(tt[1]))
	if hi < 0 || lo < 0 {
		return mail.Address{}, errSRS
	}
	day := int64(hi<<5 | lo)
	today := (s.now().Unix() / 86400) % 1024
	age := (today - day + 1024) % 1024
	maxAge := s.MaxAge
	if maxAge == 0 {
		maxAge = 21 * 24 * time.Hour
	}
	if age > int64(maxAge/(24*time.Hour)) {
		return mail.Address{}, errSRS
	}
	return mail.Parse(local + "@" + domain)
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 32
	}
	return c
}

// srsFrom is the sender of a copy that by's domain redirects: rewritten unless SRS is
// off or the sender is of a local domain (our own SPF covers it).
func (p *Pipeline) srsFrom(ctx context.Context, from mail.Address, by string) (mail.Address, error) {
	if p.srs == nil || from.IsZero() {
		return from, nil
	}
	local, err := p.dir.IsLocalDomain(ctx, from.Domain)
	if err != nil || local {
		return from, err
	}
	return p.srs.Forward(from, by), nil
}

// srsTarget routes a recipient in SRS0 form: ok reports that it is one; a valid one
// goes to the original sender (a remote target), a forged or expired one is an unknown
// user.
func (p *Pipeline) srsTarget(rcpt mail.Address) ([]directory.Target, bool, *Error) {
	if p.srs == nil || !strings.HasPrefix(strings.ToLower(rcpt.Local), srsPrefix) {
		return nil, false, nil
	}
	orig, err := p.srs.Reverse(rcpt)
	if err != nil {
		p.log.Info("SRS address refused", "rcpt", rcpt.String(), "err", err)
		return nil, true, errUnknownUser()
	}
	return []directory.Target{{Remote: orig}}, true, nil
}
