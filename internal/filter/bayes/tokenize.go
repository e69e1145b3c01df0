package bayes

import (
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"mailgrid/internal/message"
)

// Limits bounding the tokeniser on hostile or huge input.
const (
	MaxTokens      = 4000      // distinct tokens kept per message; the rest are ignored
	MaxTextBytes   = 256 << 10 // decoded text read from all text parts together
	MaxHeaderBytes = 64 << 10  // bytes of the top-level header read
	MaxTokenLen    = 96        // bytes of one token, prefix included; longer ones are cut
	minWordRunes   = 3         // shorter body words carry no signal (SpamBayes)
	maxWordRunes   = 20        // longer "words" become a skip: token
)

// Tokenize returns the distinct tokens of msg, sorted. It reads the top-level header and
// the decoded text of every text part (HTML reduced to text), at most MaxTextBytes of it,
// and never fails on malformed MIME: the only errors are read errors.
//
// Tokens are lower case and prefixed by where they were seen ("subject:", "from:host:",
// "url:", "part:", "hdr:" ...); body words are bare. Headers that mailgrid or other
// filters add with a verdict (X-Spam-*, X-Mailgrid-*, X-Rspamd-*, X-Virus-*,
// Authentication-Results) are skipped, so training on stored mail never learns our own
// verdict back.
func Tokenize(msg Message) ([]string, error) {
	info, err := message.Parse(msg, msg.Size())
	if err != nil {
		return nil, fmt.Errorf("bayes: tokenize: %w", err)
	}
	t := newTokens()
	if err := t.header(msg, info); err != nil {
		return nil, err
	}
	budget := int64(MaxTextBytes)
	if err := t.part(msg, &info.Structure, &budget, 0); err != nil {
		return nil, err
	}
	return t.sorted(), nil
}

// tokens is the distinct set being collected, bounded by MaxTokens.
type tokens struct{ set map[string]struct{} }

func newTokens() *tokens { return &tokens{set: make(map[string]struct{}, 256)} }

func (t *tokens) add(tok string) {
	if tok == "" || len(t.set) >= MaxTokens {
		return
	}
	tok = strings.ToValidUTF8(tok, "\uFFFD")
	if len(tok) > MaxTokenLen {
		tok = truncateUTF8(tok, MaxTokenLen)
	}
	t.set[tok] = struct{}{}
}

func (t *tokens) sorted() []string {
	out := make([]string, 0, len(t.set))
	for tok := range t.set {
		out = append(out, tok)
	}
	slices.Sort(out)
	return out
}

// header adds the tokens of the top-level header: the fields message.Parse already decoded
// (Subject, From, To, Cc, Reply-To, Message-ID) and a few raw ones.
func (t *tokens) header(msg Message, info *message.Info) error {
	env := &info.Envelope
	t.words("subject:", info.Subject)
	if s := info.Subject; s != "" && strings.Contains(s, "!") {
		t.add("subject:has:!")
	}
	if isShouting(info.Subject) {
		t.add("subject:shouting")
	}
	t.addresses("from:", env.From, true)
	if len(env.From) == 0 {
		t.add("from:none")
	}
	t.addresses("to:", env.To, false)
	t.addresses("cc:", env.Cc, false)
	t.add("to:count:" + bucket(len(env.To)+len(env.Cc)))
	if len(env.ReplyTo) > 0 && len(env.From) > 0 && !strings.EqualFold(env.ReplyTo[0].Host, env.From[0].Host) {
		t.add("replyto:host:" + strings.ToLower(env.ReplyTo[0].Host))
		t.add("replyto:differs")
	}
	if _, host, ok := strings.Cut(info.MessageID, "@"); ok && host != "" {
		t.add("msgid:host:" + strings.ToLower(host))
	} else {
		t.add("msgid:none")
	}
	if info.Date.IsZero() {
		t.add("date:none")
	}
	n := min(info.HeaderSize, MaxHeaderBytes)
	raw := make([]byte, n)
	if _, err := msg.ReadAt(raw, 0); err != nil && err != io.EOF {
		return fmt.Errorf("bayes: tokenize: read header: %w", err)
	}
	for _, f := range headerFields(raw) {
		t.rawField(f.name, f.value)
	}
	return nil
}

// rawField adds the tokens of one header field that Parse does not interpret.
func (t *tokens) rawField(name, value string) {
	if skipHeader(name) {
		return
	}
	t.add("hdr:" + name)
	switch name {
	case "x-mailer", "user-agent":
		words := strings.Fields(strings.ToLower(decodeHeader(value)))
		t.add("mailer:" + strings.Join(words[:min(len(words), 2)], " "))
	case "content-type":
		mt, _, _ := strings.Cut(strings.ToLower(value), ";")
		t.add("ct:" + strings.TrimSpace(mt))
	case "x-priority", "importance", "precedence", "list-id", "list-unsubscribe":
		t.add(name + ":" + strings.ToLower(firstWord(value)))
	}
}

// skipHeader reports the fields that carry another filter's verdict (or ours).
func skipHeader(name string) bool {
	for _, p := range []string{"x-spam", "x-mailgrid", "x-rspamd", "x-virus", "authentication-results", "x-ham-report"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// addresses adds host (and parent domain) tokens for an address list; for From also the
// whole address and the display-name words.
func (t *tokens) addresses(prefix string, list []message.Address, full bool) {
	for i, a := range list {
		if i >= 20 {
			break
		}
		host := strings.ToLower(a.Host)
		if host != "" {
			for _, d := range domainSuffixes(host) {
				t.add(prefix + "host:" + d)
			}
		}
		if !full {
			continue
		}
		if a.Mailbox != "" {
			t.add(prefix + "addr:" + strings.ToLower(a.Mailbox) + "@" + host)
		}
		if a.Name == "" {
			t.add(prefix + "noname")
		}
		t.words(prefix+"name:", a.Name)
	}
}

// part adds the tokens of one MIME part and its children.
func (t *tokens) part(msg Message, p *message.Part, budget *int64, depth int) error {
	if depth > message.MaxDepth {
		return nil
	}
	if p.Message != nil {
		return t.part(msg, p.Message, budget, depth+1)
	}
	if p.IsMultipart() {
		t.add("part:" + p.Type + "/" + p.Subtype)
		for i := range p.Children {
			if err := t.part(msg, &p.Children[i], budget, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	t.add("part:" + p.Type + "/" + p.Subtype)
	if cs := p.Params["charset"]; cs != "" {
		t.add("charset:" + strings.ToLower(cs))
	}
	if p.Encoding != "7bit" {
		t.add("cte:" + p.Encoding)
	}
	if name := fileName(p); name != "" {
		t.add("filename:ext:" + strings.ToLower(path.Ext(name)))
	}
	if p.Type != "text" || p.Disposition == "attachment" || *budget <= 0 {
		return nil
	}
	text, err := readText(msg, p, *budget)
	if err != nil {
		return err
	}
	*budget -= int64(len(text))
	if p.Subtype == "html" {
		t.html(text)
		return nil
	}
	t.urls(text)
	t.words("", text)
	return nil
}

// fileName returns the part's file name (Content-Disposition filename, else the
// Content-Type name parameter, RFC 2183 2.3).
func fileName(p *message.Part) string {
	if n := p.DispositionParams["filename"]; n != "" {
		return n
	}
	return p.Params["name"]
}

// bucket names a count coarsely, so counts become a handful of tokens.
func bucket(n int) string {
	switch {
	case n == 0:
		return "0"
	case n == 1:
		return "1"
	case n <= 5:
		return "2-5"
	case n <= 20:
		return "6-20"
	}
	return "many"
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}
