package mailets

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
	"sync"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/message"
	"mailgrid/internal/message/body"
)

// AttachmentLimits answers a domain's largest attachment in bytes (0: no limit, also
// for a domain mailgrid does not host). The directory's service plans provide it
// (directory.Plan.MaxAttachmentBytes of the domain's plan).
type AttachmentLimits interface {
	MaxAttachmentBytes(ctx context.Context, domain string) (int64, error)
}

// PlanLimits reads a domain's attachment limit: the domain's own
// (directory.Domain.MaxAttachmentBytes) when set and within its plan's, else its service
// plan's (directory.Domain.AttachmentLimit); 0 for a domain with neither, and for one
// mailgrid does not host. The domain is read when Plans also reads domains (the
// directories do).
type PlanLimits struct {
	Plans directory.PlanStore
}

// domainReader is the part of a directory that reads a domain.
type domainReader interface {
	Domain(ctx context.Context, name string) (directory.Domain, error)
}

// MaxAttachmentBytes implements AttachmentLimits.
func (p PlanLimits) MaxAttachmentBytes(ctx context.Context, domain string) (int64, error) {
	var dom directory.Domain
	if dr, ok := p.Plans.(domainReader); ok {
		d, err := dr.Domain(ctx, domain)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			return 0, nil // not hosted here
		case err != nil:
			return 0, err
		}
		dom = d
	}
	name, err := p.Plans.DomainPlan(ctx, domain)
	if err != nil || name == "" {
		return dom.AttachmentLimit(0), err
	}
	pl, err := p.Plans.Plan(ctx, name)
	if errors.Is(err, directory.ErrNotFound) {
		return dom.AttachmentLimit(0), nil // unassigned and deleted meanwhile
	}
	return dom.AttachmentLimit(pl.MaxAttachmentBytes), err
}

// AttachmentSize refuses, at DATA, a message with an attachment larger than the limit
// of the domains it concerns, with 552 5.3.4 (RFC 5321 4.5.3.1.10 "exceeded storage
// allocation", RFC 3463 5.3.4 "message too big for system"), the reply a size limit
// gets:
//
//	inbound     each recipient's domain's limit, per recipient (Postfix and Stalwart
//	            apply limits per destination; a recipient whose domain allows the size
//	            still gets the message)
//	submission  also the sending account's domain's limit, for every recipient (local
//	            or remote): a tenant's users cannot send what their plan does not allow
//
// An attachment is a part with Content-Disposition attachment, or a named part (a
// filename or name parameter) that is not marked inline (RFC 2183 2.1, 2.3); an attached
// message counts as one attachment. Its size is the decoded size, what the user attached:
// base64 counts 3 bytes per 4 characters of its alphabet (RFC 2045 6.8, ignoring line
// breaks and, as mail readers do, characters outside the alphabet), quoted-printable is
// decoded (RFC 2045 6.7), other encodings are their octets. Parts whose stored size is
// within the limit are not decoded (decoding never enlarges them).
//
// A limit that cannot be read is a failure: the rule's Policy applies (fail-closed:
// 451 4.7.1, never a permanent refusal for a fault).
type AttachmentSize struct {
	Limits AttachmentLimits
	// CacheFor keeps each domain's limit for this long; 0 reads it for every message.
	CacheFor time.Duration
	Now      func() time.Time

	mu    sync.Mutex
	cache map[string]cachedLimit
}

type cachedLimit struct {
	bytes int64
	at    time.Time
}

// Name implements filter.Mailet.
func (a *AttachmentSize) Name() string { return "attachment-size" }

// Stages implements filter.Stager: the whole message is needed.
func (a *AttachmentSize) Stages() []filter.Stage { return []filter.Stage{filter.StageData} }

// Service implements filter.Mailet.
func (a *AttachmentSize) Service(ctx context.Context, m *filter.Mail) error {
	var sender int64
	if acct := m.Envelope.Account; acct != nil {
		var err error
		if sender, err = a.limit(ctx, acct.Address.Domain); err != nil {
			return err
		}
	}
	rcpts := active(m)
	limits := make([]int64, len(rcpts))
	smallest := int64(0)
	for i, r := range rcpts {
		l, err := a.limit(ctx, r.Addr.Domain)
		if err != nil {
			return err
		}
		limits[i] = tighter(l, sender)
		smallest = tighter(smallest, limits[i])
	}
	if smallest == 0 {
		return nil // no limit concerns this message: not parsed
	}
	b := m.Message.Body()
	info, err := message.Parse(b, b.Size())
	if err != nil {
		return fmt.Errorf("attachment-size: %w", err)
	}
	largest, err := largestAttachment(b, &info.Structure, smallest)
	if err != nil {
		return fmt.Errorf("attachment-size: %w", err)
	}
	for i, r := range rcpts {
		if limits[i] > 0 && largest > limits[i] {
			r.Reject(filter.Reply{Code: 552, Enhanced: [3]int{5, 3, 4},
				Text: fmt.Sprintf("Attachment of %d bytes exceeds the limit of %d bytes", largest, limits[i])})
		}
	}
	return nil
}

// tighter is the smaller of two limits, 0 meaning none.
func tighter(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// limit is domain's limit, cached for CacheFor.
func (a *AttachmentSize) limit(ctx context.Context, domain string) (int64, error) {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	domain = strings.ToLower(domain)
	if a.CacheFor > 0 {
		a.mu.Lock()
		c, ok := a.cache[domain]
		a.mu.Unlock()
		if ok && now().Sub(c.at) < a.CacheFor {
			return c.bytes, nil
		}
	}
	n, err := a.Limits.MaxAttachmentBytes(ctx, domain)
	if err != nil {
		return 0, fmt.Errorf("attachment limit of %s: %w", domain, err)
	}
	if a.CacheFor > 0 {
		a.mu.Lock()
		if a.cache == nil {
			a.cache = map[string]cachedLimit{}
		}
		a.cache[domain] = cachedLimit{bytes: n, at: now()}
		a.mu.Unlock()
	}
	return n, nil
}

// isAttachment reports whether p is what a user attached (RFC 2183): disposition
// attachment, or named and not inline.
func isAttachment(p *message.Part) bool {
	if p.Disposition == "attachment" {
		return true
	}
	named := p.DispositionParams["filename"] != "" || p.Params["name"] != ""
	return named && p.Disposition != "inline"
}

// largestAttachment is the decoded size of the largest attachment in p's tree; parts
// stored within floor bytes count their stored size without being decoded.
func largestAttachment(b body.Body, p *message.Part, floor int64) (int64, error) {
	if isAttachment(p) && !p.IsMultipart() {
		if p.Size <= floor {
			return p.Size, nil
		}
		return decodedSize(body.Section(b, p.BodyStart, p.End-p.BodyStart), p.Encoding)
	}
	var largest int64
	for i := range p.Children {
		n, err := largestAttachment(b, &p.Children[i], floor)
		if err != nil {
			return 0, err
		}
		largest = max(largest, n)
	}
	if p.Message != nil {
		n, err := largestAttachment(b, p.Message, floor)
		if err != nil {
			return 0, err
		}
		largest = max(largest, n)
	}
	return largest, nil
}

// decodedSize counts the octets a part's body decodes to.
func decodedSize(part body.Body, encoding string) (int64, error) {
	r := bufio.NewReaderSize(body.Reader(part), 32<<10)
	switch strings.ToLower(encoding) {
	case "base64":
		var n int64
		for {
			c, err := r.ReadByte()
			if err == io.EOF {
				return n * 3 / 4, nil
			}
			if err != nil {
				return 0, err
			}
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' {
				n++
			}
		}
	case "quoted-printable":
		src := &readFault{r: r}
		n, err := io.Copy(io.Discard, quotedprintable.NewReader(src))
		switch {
		case src.err != nil:
			return 0, src.err
		case err != nil:
			return part.Size(), nil // malformed: its stored size, which decoding would not exceed
		}
		return n, nil
	}
	return part.Size(), nil
}

// readFault remembers a failure of the underlying reader, told apart from a decoding
// error.
type readFault struct {
	r   io.Reader
	err error
}

func (f *readFault) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF {
		f.err = err
	}
	return n, err
}
