package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	netmail "net/mail"
	"slices"
	"strconv"
	"strings"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/message"
	"mailgrid/internal/message/htmlsafe"
	"mailgrid/internal/store"
)

// Compose: the form (prefilled for reply, reply-all, forward, a draft or a mailto: To),
// and its post (mail_send.go). References to other messages travel as "MB/UID" strings
// in hidden fields and are re-resolved against the session's account on post.

type composeView struct {
	From       string
	Identities []string
	To, Cc     string
	Bcc        string
	Subject    string
	Body       string
	Mode       string // "plain" or "rich" (mail_richtext.go)
	HTML       string // the rich editor's HTML (sanitised when it came from a draft)
	InReplyTo  string
	References string
	Draft      string // "MB/UID" of the draft being edited, replaced on save or send
	Answer     string // "MB/UID" of the message replied to, flagged \Answered on send
	Forward    string // "MB/UID" of a message forwarded as an attachment
	ForwardSub string // its subject, shown
	MaxSize    int64
	MaxAttach  int64             // the plan's limit per attachment, 0 none (mail_compose_limit.go)
	SendAt     string            // "Send later": the time as typed (mail_schedule.go)
	Zone       string            // the zone SendAt is read in
	Sigs       map[string]string // each identity's default signature (mail_signature.go)
	QuoteHead  string            // the quote's first line: a signature goes above it
	Kept       []draftAttachment // the draft's attachments, kept while checked (mail_compose_draft.go)
}

// identities are the addresses the account may send as: its own and the aliases that
// deliver to it (directory.SendAs accepts both; sub-addresses are not listed).
func (s *Server) identities(ctx context.Context, a directory.Account) []string {
	own := a.Address.String()
	out := []string{own}
	aliases, err := s.dir.Aliases(ctx, a.Address.Domain)
	if err != nil {
		s.log.Warn("webmail: aliases", "err", err)
		return out
	}
	for _, al := range aliases {
		if strings.HasPrefix(al.Source, "@") {
			continue // a catch-all is not an address
		}
		for _, t := range al.Targets {
			if strings.EqualFold(t, own) {
				out = append(out, al.Source)
				break
			}
		}
	}
	slices.Sort(out[1:])
	return slices.Compact(out)
}

// maxMessage is the size limit of what the account composes: its domain's
// MaxMessageBytes, else MailOptions.MaxMessageBytes (default 25 MiB).
func (s *Server) maxMessage(c *mailCtx) int64 {
	if c.p.dom.MaxMessageBytes > 0 {
		return c.p.dom.MaxMessageBytes
	}
	if s.opt.Mail.MaxMessageBytes > 0 {
		return s.opt.Mail.MaxMessageBytes
	}
	return 25 << 20
}

// ref resolves "MB/UID" to a message of the account.
func (s *Server) ref(ctx context.Context, c *mailCtx, v string) (*opened, error) {
	mbs, us, ok := strings.Cut(v, "/")
	uid, err := strconv.ParseUint(us, 10, 32)
	mb, found := c.box(mbs)
	if !ok || err != nil || uid == 0 || !found {
		return nil, store.ErrNotFound
	}
	return s.openUID(ctx, c, mb, store.UID(uid))
}

func refOf(o *opened) string { return fmt.Sprintf("%d/%d", o.mb.ID, o.msg.UID) }

func (s *Server) mailCompose(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	ctx := r.Context()
	q := r.URL.Query()
	v := &composeView{Identities: s.identities(ctx, c.p.acct), MaxSize: s.maxMessage(c)}
	v.From = v.Identities[0]
	if to := q.Get("to"); to != "" && !strings.ContainsAny(to, "\r\n") {
		v.To = to
	}
	var err error
	switch {
	case q.Get("draft") != "":
		err = s.prefillDraft(ctx, c, v, q.Get("draft"))
	case q.Get("reply") != "":
		err = s.prefillReply(ctx, c, v, q.Get("reply"), q.Get("all") == "1")
	case q.Get("forward") != "":
		err = s.prefillForward(ctx, c, v, q.Get("forward"), q.Get("attach") == "1")
	}
	if errors.Is(err, store.ErrNotFound) {
		s.mailError(w, r, c, http.StatusNotFound, "No such message (it may have been moved or deleted).")
		return
	}
	if err != nil {
		s.log.Error("webmail: compose", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The message could not be read right now; try again in a moment.")
		return
	}
	s.insertSignature(ctx, c, v, q.Get("draft") == "")
	s.renderCompose(w, r, c, http.StatusOK, v, "")
}

func (s *Server) renderCompose(w http.ResponseWriter, r *http.Request, c *mailCtx, status int, v *composeView, errMsg string) {
	d := s.pageOf(r.Context(), c, "Compose", 0)
	if v.Mode == modeRich { // the editor shows only sanitised HTML (mail_richtext.go)
		v.HTML = c.a.clean.Sanitize(v.HTML, htmlsafe.Options{}).HTML
	}
	if r.Method == http.MethodPost && v.Kept == nil && v.Draft != "" {
		// Refused before the draft's attachments were read: list them as posted.
		if _, err := s.keptAttachments(r.Context(), c, v, r.PostForm["keep"]); err != nil {
			s.log.Debug("webmail: compose: a draft's attachments", "err", err)
		}
	}
	v.Zone = s.userZone(c).String()
	v.MaxAttach = s.maxAttachment(r.Context(), c)
	s.composeSigs(r.Context(), c, v)
	d.Compose, d.Error = v, errMsg
	d.Back = "/mail/compose"
	if r.Method == http.MethodGet {
		d.Flash = flashText(r.URL.Query().Get("done"))
	}
	s.mailRender(w, c, status, "compose", d)
}

// originalText is a message's text for quoting: its text/plain body, else its HTML
// body reduced to text.
func (s *Server) originalText(ctx context.Context, c *mailCtx, o *opened) (string, error) {
	text, html, _, _ := bodyParts(&o.info.Structure)
	part := text
	if part == nil {
		part = html
	}
	if part == nil {
		return "", nil
	}
	b, err := c.st.OpenBlob(ctx, c.ref, o.msg.ID)
	if err != nil {
		return "", err
	}
	defer func() { _ = b.Close() }() // read-only
	data, _, err := readPart(b, part.p, 1<<20)
	if err != nil {
		return "", err
	}
	t := textOf(data, part.p)
	if part == html {
		t = strings.TrimSpace(store.StripHTML(t))
	}
	return strings.ReplaceAll(t, "\r\n", "\n"), nil
}

// inputAddr formats an address for an address field so that it parses back as one
// address: a display name with specials is quoted (RFC 5322 3.2.4), UTF-8 kept as it is
// (RFC 6532).
func inputAddr(a message.Address) string {
	addr := addrString(a)
	if a.Name == "" {
		return addr
	}
	name := a.Name
	if strings.ContainsAny(name, "()<>[]:;@\\,.\"") {
		name = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
	}
	return name + " <" + addr + ">"
}

func inputList(list []message.Address) string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = inputAddr(a)
	}
	return strings.Join(out, ", ")
}

func addrString(a message.Address) string {
	addr := a.Mailbox
	if a.Host != "" {
		addr += "@" + a.Host
	}
	return addr
}

func (s *Server) prefillReply(ctx context.Context, c *mailCtx, v *composeView, ref string, all bool) error {
	o, err := s.ref(ctx, c, ref)
	if err != nil {
		return err
	}
	env := o.info.Envelope
	mine := func(a message.Address) bool {
		return slices.ContainsFunc(v.Identities, func(id string) bool { return strings.EqualFold(id, addrString(a)) })
	}
	// Answer from the identity the message was sent to, when there is one.
	for _, a := range slices.Concat(env.To, env.Cc) {
		if mine(a) {
			for _, id := range v.Identities {
				if strings.EqualFold(id, addrString(a)) {
					v.From = id
				}
			}
			break
		}
	}
	seen := map[string]bool{}
	var to, cc []string
	add := func(list *[]string, a message.Address, skipMine bool) {
		k := strings.ToLower(addrString(a))
		if k == "" || seen[k] || skipMine && mine(a) {
			return
		}
		seen[k] = true
		*list = append(*list, inputAddr(a))
	}
	replyTo := env.ReplyTo
	if len(replyTo) == 0 {
		replyTo = env.From
	}
	for _, a := range replyTo {
		add(&to, a, false)
	}
	if all {
		for _, a := range env.To {
			add(&to, a, true)
		}
		for _, a := range env.Cc {
			add(&cc, a, true)
		}
	}
	v.To, v.Cc = strings.Join(to, ", "), strings.Join(cc, ", ")
	v.Subject = prefixed("Re: ", o.info.Subject)
	if o.info.MessageID != "" {
		v.InReplyTo = "<" + o.info.MessageID + ">"
		refs := slices.Clone(o.info.References)
		if len(refs) == 0 && o.info.InReplyTo != "" {
			refs = []string{o.info.InReplyTo}
		}
		refs = append(refs, o.info.MessageID)
		v.References = "<" + strings.Join(refs, "> <") + ">" // RFC 5322 3.6.4
	}
	v.Answer = refOf(o)
	text, err := s.originalText(ctx, c, o)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n\nOn %s, %s wrote:\n", decodeHeader(env.Date), displayList(env.From))
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if strings.HasPrefix(line, ">") {
			b.WriteString(">" + line + "\n")
		} else {
			b.WriteString("> " + line + "\n")
		}
	}
	v.Body = b.String()
	return nil
}

// prefixed puts p ("Re: ", "Fwd: ") before subject unless it is there already.
func prefixed(p, subject string) string {
	if strings.HasPrefix(strings.ToLower(subject), strings.ToLower(p)) {
		return subject
	}
	return p + subject
}

func (s *Server) prefillForward(ctx context.Context, c *mailCtx, v *composeView, ref string, attach bool) error {
	o, err := s.ref(ctx, c, ref)
	if err != nil {
		return err
	}
	v.Subject = prefixed("Fwd: ", o.info.Subject)
	if attach {
		v.Forward, v.ForwardSub = refOf(o), o.info.Subject
		return nil
	}
	text, err := s.originalText(ctx, c, o)
	if err != nil {
		return err
	}
	env := o.info.Envelope
	v.Body = fmt.Sprintf("\n\n---------- Forwarded message ----------\nFrom: %s\nDate: %s\nSubject: %s\nTo: %s\n\n%s\n",
		displayList(env.From), decodeHeader(env.Date), o.info.Subject, displayList(env.To), text)
	return nil
}

func (s *Server) prefillDraft(ctx context.Context, c *mailCtx, v *composeView, ref string) error {
	o, err := s.ref(ctx, c, ref)
	if err != nil {
		return err
	}
	env := o.info.Envelope
	if len(env.From) > 0 {
		from := addrString(env.From[0])
		if slices.ContainsFunc(v.Identities, func(id string) bool { return strings.EqualFold(id, from) }) {
			v.From = from
		}
	}
	v.To, v.Cc, v.Bcc = inputList(env.To), inputList(env.Cc), inputList(env.Bcc)
	v.Subject = o.info.Subject
	if o.info.InReplyTo != "" {
		v.InReplyTo = "<" + o.info.InReplyTo + ">"
	}
	if len(o.info.References) > 0 {
		v.References = "<" + strings.Join(o.info.References, "> <") + ">"
	}
	v.Draft = refOf(o)
	if v.Body, err = s.originalText(ctx, c, o); err != nil {
		return err
	}
	if v.Kept, err = s.draftAttachments(ctx, c, v.Draft); err != nil {
		return err
	}
	// A draft saved in rich mode has an HTML body: edit it in rich mode again.
	return s.prefillRich(ctx, c, v, o)
}

// composeForm is the posted form, read back into the view on error.
func composeForm(r *http.Request, v *composeView) {
	f := r.PostFormValue
	v.From, v.To, v.Cc, v.Bcc, v.Subject, v.Body = f("from"), f("to"), f("cc"), f("bcc"), f("subject"), f("body")
	v.InReplyTo, v.References, v.Draft, v.Answer, v.Forward = f("in_reply_to"), f("references"), f("draft"), f("answer"), f("forward")
	v.SendAt = f("send_at")
	v.Mode, v.HTML = modePlain, ""
	if f("mode") == modeRich {
		v.Mode, v.HTML = modeRich, f("html")
	}
}

// formError is a refusal of the form with its HTTP status.
type formError struct {
	status int
	msg    string
}

func (e *formError) Error() string { return e.msg }

func badForm(format string, args ...any) *formError {
	return &formError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf(format, args...)}
}

// checkLine refuses CR, LF and other control characters in a one-line field: they
// would end a header field early (header injection, RFC 5322 2.2).
func checkLine(field, v string) error {
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
		return badForm("%s must be a single line: line breaks and control characters are not allowed.", field)
	}
	return nil
}

// parseAddrs reads a To/Cc/Bcc field: RFC 5322 addresses separated by commas (or
// semicolons, as people type them).
func parseAddrs(field, v string) ([]*netmail.Address, error) {
	if err := checkLine(field, v); err != nil {
		return nil, err
	}
	v = strings.TrimSpace(strings.ReplaceAll(v, ";", ","))
	v = strings.Trim(v, ", ")
	if v == "" {
		return nil, nil
	}
	list, err := (&netmail.AddressParser{}).ParseList(v)
	if err != nil {
		return nil, badForm("%s: %q is not a list of e-mail addresses.", field, v)
	}
	for _, a := range list {
		if _, err := mail.Parse(a.Address); err != nil {
			return nil, badForm("%s: %q is not a valid e-mail address.", field, a.Address)
		}
	}
	return list, nil
}

// readUploads reads the form's attachment files.
func readUploads(r *http.Request) ([]outPart, error) {
	if r.MultipartForm == nil {
		return nil, nil
	}
	var out []outPart
	for _, fh := range r.MultipartForm.File["attachment"] {
		if fh.Filename == "" && fh.Size == 0 {
			continue // the empty file input
		}
		f, err := fh.Open()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		out = append(out, outPart{Name: fh.Filename, Type: fh.Header.Get("Content-Type"), Data: data})
	}
	return out, nil
}

// composeCSRF checks a multipart form's token (checkCSRF reads urlencoded forms only).
func composeCSRF(r *http.Request, p *principal) error {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(p.csrf())) != 1 {
		return &formError{status: http.StatusForbidden, msg: "The form is stale or was not sent by this page (CSRF token); reload and try again."}
	}
	return nil
}
