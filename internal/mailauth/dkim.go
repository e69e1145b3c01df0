package mailauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"mailgrid/internal/dns"
)

// MaxDKIMSignatures is the number of DKIM-Signature fields verified per message; later
// ones are ignored (RFC 6376 6.1: verifiers MAY limit the signatures they try, against
// denial of service). Each one costs a DNS lookup and a hash of the body.
const MaxDKIMSignatures = 10

// headerBLen is how much of b= a result keeps to tell signatures apart (RFC 6008 2
// requires at least 8 characters for header.b).
const headerBLen = 12

// DKIMResult is the verification result of one DKIM-Signature field (RFC 6376 6).
type DKIMResult struct {
	Status     Status // pass, fail, policy, neutral, temperror, permerror
	Domain     string // d=, the signing domain (SDID)
	Selector   string // s=
	Identifier string // i=, the AUID; "@"+Domain when absent (RFC 6376 3.5)
	Algorithm  string // a=
	HeaderB    string // the first characters of b= (RFC 6008 header.b)
	Reason     string // why it did not pass
}

// VerifyDKIM verifies every DKIM signature of the message msg[0:size] (RFC 6376 6), up to
// MaxDKIMSignatures, in header order. Keys are looked up with r; now is the clock for
// signature expiry (x=). A message without signatures gives no results (dkim=none).
// Temporary DNS failures give temperror, a missing key permerror (RFC 6376 6.1.2). The
// only error is a failure to read msg.
func VerifyDKIM(ctx context.Context, r dns.Resolver, msg io.ReaderAt, size int64, now time.Time) ([]DKIMResult, error) {
	h, err := scanHeader(msg, size, fieldDKIM)
	if err != nil {
		return nil, err
	}
	return verifyDKIM(ctx, r, msg, size, h, now)
}

// verifyDKIM verifies the signatures of a scanned header (h may hold other fields too).
func verifyDKIM(ctx context.Context, r dns.Resolver, msg io.ReaderAt, size int64, h header, now time.Time) ([]DKIMResult, error) {
	var results []DKIMResult
	var lengthLimited []bool // the signature has l= (RFC 6376 3.5)
	for _, f := range h.fields {
		if strings.EqualFold(f.name, fieldDKIM) && len(results) < MaxDKIMSignatures {
			res, tags := dkimFields(f)
			_, l := tags["l"]
			results, lengthLimited = append(results, res), append(lengthLimited, l)
		}
	}
	if len(results) == 0 {
		return nil, nil
	}
	rd := &catchReader{r: io.NewSectionReader(msg, 0, size)}
	var in io.Reader = rd
	switch {
	case h.openLine: // the library needs the line break and the empty line
		in = io.MultiReader(rd, strings.NewReader("\r\n\r\n"))
	case !h.terminated:
		in = io.MultiReader(rd, strings.NewReader("\r\n"))
	}
	verifs, err := dkim.VerifyWithOptions(in, &dkim.VerifyOptions{
		LookupTXT:        txtLookup(ctx, r),
		MaxVerifications: MaxDKIMSignatures,
	})
	if rd.err != nil {
		return nil, rd.err
	}
	if errors.Is(err, dkim.ErrTooManySignatures) {
		err = nil
	}
	for i := range results {
		res := &results[i]
		switch {
		case err != nil:
			res.Status, res.Reason = StatusPermError, fmt.Sprintf("verification failed: %v", err)
		case len(verifs) != len(results): // the library split the header differently
			res.Status, res.Reason = StatusPermError, "signature fields could not be matched"
		case lengthLimited[i] && !dkim.IsTempFail(verifs[i].Err) && !dkim.IsPermFail(verifs[i].Err):
			// RFC 6376 8.2: l= lets anyone append to the body; we do not accept it.
			res.Status, res.Reason = StatusPolicy, "body length limit (l=) not accepted"
		default:
			res.Status, res.Reason = dkimStatus(verifs[i].Err)
		}
		if res.Status == StatusPass {
			applyDKIMPolicy(res, verifs[i], now)
		}
	}
	return results, nil
}

// dkimFields fills a result with the tags of a DKIM-Signature field and returns the tags.
// Malformed tags leave fields empty: the library reports the syntax error itself.
func dkimFields(f field) (DKIMResult, map[string]string) {
	tags, _ := parseTags(f.value)
	res := DKIMResult{
		Domain:     strings.ToLower(stripFWS(tags["d"])),
		Selector:   stripFWS(tags["s"]),
		Identifier: stripFWS(tags["i"]),
		Algorithm:  stripFWS(tags["a"]),
	}
	if res.Identifier == "" && res.Domain != "" {
		res.Identifier = "@" + res.Domain
	}
	b := stripFWS(tags["b"])
	res.HeaderB = b[:min(len(b), headerBLen)]
	return res, tags
}

func dkimStatus(err error) (Status, string) {
	switch {
	case err == nil:
		return StatusPass, ""
	case dkim.IsTempFail(err):
		return StatusTempError, strings.TrimPrefix(err.Error(), "dkim: ")
	case dkim.IsPermFail(err):
		return StatusPermError, strings.TrimPrefix(err.Error(), "dkim: ")
	default:
		return StatusFail, strings.TrimPrefix(err.Error(), "dkim: ")
	}
}

// applyDKIMPolicy applies local policy to a signature that verified: expiry by our own
// clock (RFC 6376 3.5 x=; the library checks against the system clock only).
func applyDKIMPolicy(res *DKIMResult, v *dkim.Verification, now time.Time) {
	if !v.Expiration.IsZero() && !now.IsZero() && now.After(v.Expiration) {
		res.Status, res.Reason = StatusPolicy, "signature expired"
	}
}

// parseTags parses a tag-list (RFC 6376 3.2): tag=value pairs separated by ";", folding
// white space allowed around names, "=" and values, an optional trailing ";". A tag name
// appearing twice makes the whole list invalid.
func parseTags(s string) (map[string]string, error) {
	tags := map[string]string{}
	for spec := range strings.SplitSeq(s, ";") {
		if strings.TrimSpace(spec) == "" {
			continue
		}
		name, value, ok := strings.Cut(spec, "=")
		name = strings.TrimSpace(name)
		if !ok || !validTagName(name) {
			return tags, fmt.Errorf("dkim: malformed tag-spec %q", truncate(spec, 40))
		}
		if _, dup := tags[name]; dup {
			return tags, fmt.Errorf("dkim: duplicate tag %q", name)
		}
		tags[name] = strings.TrimSpace(value)
	}
	return tags, nil
}

// validTagName checks tag-name = ALPHA *ALNUMPUNC (RFC 6376 3.2).
func validTagName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// stripFWS removes all white space and line breaks, as tag values that are lists, base64
// or domains may be folded anywhere (RFC 6376 3.2, 3.5).
func stripFWS(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// catchReader turns a read error into EOF and keeps it. go-msgauth's parallel verifier
// leaves its goroutines blocked when the message reader fails; reading to a clean EOF and
// reporting the error afterwards avoids that leak.
type catchReader struct {
	r   io.Reader
	err error
}

func (c *catchReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, io.EOF
	}
	n, err := c.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		c.err = err
		return n, io.EOF
	}
	return n, err
}
