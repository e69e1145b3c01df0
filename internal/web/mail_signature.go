package web

// Signatures (/mail/signatures): an account's named plain-text signatures, and for each
// identity it sends as (its address and the aliases that deliver to it) at most one
// default. Compose puts the From identity's default below the text, after the
// signature separator line "-- " (RFC 3676 4.3), and above the quote of a reply or
// forward; compose's script (assets/mail_signatures.js) swaps it when From changes.
//
// Model: one sigSet per account, a JSON document (SignaturesDoc) in the account's
// documents of the filter state (filter.AccountDocs: shared by every node, not a Sieve
// script). Each change reads the set, changes a copy, validates it and stores it with
// one PutDoc; bad input answers 422 with the reason and stores nothing.

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"mailgrid/internal/filter"
)

//go:embed assets/mail_signatures.js
var signaturesJSFS embed.FS

// SignaturesDoc is the name of the account document that holds the signatures.
const SignaturesDoc = "webmail.signatures"

const (
	sigSeparator = "-- \n" // RFC 3676 4.3: dash dash space, alone on its line
	maxSigs      = 20
	maxSigName   = 100
	maxSigText   = 4000
)

// Signature is one named signature.
type Signature struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
	Text string `json:"text"`
}

// sigSet is an account's signatures (the stored JSON).
type sigSet struct {
	Next     int            `json:"next"`
	List     []Signature    `json:"list,omitempty"`
	Defaults map[string]int `json:"defaults,omitempty"` // lower-cased identity -> Signature.ID
}

func (s *sigSet) byID(id int) (Signature, bool) {
	i := slices.IndexFunc(s.List, func(g Signature) bool { return g.ID == id })
	if i < 0 {
		return Signature{}, false
	}
	return s.List[i], true
}

// defaultFor is identity's default signature text ("" none).
func (s *sigSet) defaultFor(identity string) string {
	g, ok := s.byID(s.Defaults[strings.ToLower(identity)])
	if !ok {
		return ""
	}
	return g.Text
}

func loadSigs(ctx context.Context, fs MailFilterState, c *mailCtx) (sigSet, error) {
	j, err := fs.Doc(ctx, c.ref, SignaturesDoc)
	if errors.Is(err, filter.ErrNotFound) {
		return sigSet{}, nil
	}
	if err != nil {
		return sigSet{}, err
	}
	var set sigSet
	if err := json.Unmarshal(j, &set); err != nil {
		return sigSet{}, fmt.Errorf("signatures document: %w", err)
	}
	return set, nil
}

func saveSigs(ctx context.Context, fs MailFilterState, c *mailCtx, set sigSet) error {
	j, err := json.Marshal(set)
	if err != nil {
		return err
	}
	return fs.PutDoc(ctx, c.ref, SignaturesDoc, j)
}

// normSigText is a signature's text with LF line ends and no trailing blank lines; it
// refuses control characters and overlong text.
func normSigText(ui uiPrefs, v string) (string, error) {
	v = strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", "\n"), "\r", "\n")
	v = strings.TrimRight(v, " \t\n")
	v = strings.TrimLeft(v, "\n")
	if strings.HasPrefix(v, sigSeparator) { // the separator is ours to add
		v = strings.TrimLeft(strings.TrimPrefix(v, sigSeparator), "\n")
	}
	switch {
	case !utf8.ValidString(v):
		return "", badForm("%s", ui.T("The signature is not valid text."))
	case utf8.RuneCountInString(v) > maxSigText:
		return "", badForm(ui.T("A signature may have at most %d characters."), maxSigText)
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }):
		return "", badForm("%s", ui.T("A signature may not contain control characters."))
	}
	return v, nil
}

// ---- compose ----

// insertSignature fills v's signature data; fresh (a new message, reply or forward,
// not a draft) also puts From's default signature into the body, above any quote.
func (s *Server) insertSignature(ctx context.Context, c *mailCtx, v *composeView, fresh bool) {
	set := s.composeSigs(ctx, c, v)
	if !fresh {
		return
	}
	if sig := set.defaultFor(v.From); sig != "" {
		v.Body = "\n\n" + sigSeparator + sig + v.Body
	}
}

// composeSigs sets v.Sigs (each identity's default signature) and v.QuoteHead (the
// first line of a quote, where the script inserts a signature above it).
func (s *Server) composeSigs(ctx context.Context, c *mailCtx, v *composeView) sigSet {
	var set sigSet
	if fs := s.opt.Mail.FilterState; fs != nil && v.Sigs == nil {
		var err error
		if set, err = loadSigs(ctx, fs, c); err != nil {
			s.log.Warn("webmail: signatures", "err", err) // compose works without them
		}
		v.Sigs = map[string]string{}
		for _, id := range v.Identities {
			if t := set.defaultFor(id); t != "" {
				v.Sigs[id] = t
			}
		}
	}
	if v.QuoteHead == "" {
		v.QuoteHead = quoteHead(v.Body)
	}
	return set
}

// quoteHead is the first line of the quote of a reply or forward as compose prefills it
// ("\n\n" then the quote's header line, maybe after a signature block); "" for none.
func quoteHead(body string) string {
	rest, ok := strings.CutPrefix(body, "\n\n")
	if !ok {
		return ""
	}
	if strings.HasPrefix(rest, sigSeparator) {
		if _, rest, ok = strings.Cut(rest, "\n\n"); !ok {
			return ""
		}
	}
	head, _, _ := strings.Cut(rest, "\n")
	return head
}

// ---- the page ----

type signaturesPage struct {
	mailPage
	Sigs       []Signature
	Identities []sigIdentity
	Edit       Signature
	Saved      string
}

type sigIdentity struct {
	Addr    string
	Default int
}

func (s *Server) mailSignaturePages(a *mailAssets, page func(string, func(http.ResponseWriter, *http.Request, *mailCtx))) {
	t, err := a.t.Clone()
	if err == nil {
		_, err = t.ParseFS(assetFS, "assets/mail_signatures.html")
	}
	if err != nil {
		s.log.Error("webmail: signatures template", "err", err)
		return
	}
	page("GET /mail/signatures", func(w http.ResponseWriter, r *http.Request, c *mailCtx) {
		s.signaturesPage(w, r, c, t, http.StatusOK, "", nil)
	})
	page("POST /mail/signatures", func(w http.ResponseWriter, r *http.Request, c *mailCtx) { s.signaturesPost(w, r, c, t) })
	js, err := fs.ReadFile(signaturesJSFS, "assets/mail_signatures.js")
	if err != nil {
		s.log.Error("webmail: signatures script", "err", err)
		return
	}
	page("GET /mail/signatures.js", func(w http.ResponseWriter, r *http.Request, c *mailCtx) {
		s.serveAsset(w, "text/javascript; charset=utf-8", js)
	})
}

func (s *Server) signaturesPage(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template, status int, errMsg string, edit *Signature) {
	fs := s.opt.Mail.FilterState
	if fs == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("Signatures are not available on this server right now; try again later."))
		return
	}
	ctx := r.Context()
	set, err := loadSigs(ctx, fs, c)
	if err != nil {
		s.log.Error("webmail: signatures", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("The signatures could not be read right now; try again in a moment."))
		return
	}
	d := signaturesPage{mailPage: s.pageOf(ctx, c, "Signatures", 0), Sigs: set.List}
	d.Back, d.Error = "/mail/signatures", errMsg
	d.Saved = map[string]string{"saved": c.ui.T("Signature saved."), "deleted": c.ui.T("Signature deleted."), "defaults": c.ui.T("Default signatures saved.")}[r.URL.Query().Get("done")]
	for _, id := range s.identities(ctx, c.p.acct) {
		d.Identities = append(d.Identities, sigIdentity{Addr: id, Default: set.Defaults[strings.ToLower(id)]})
	}
	switch {
	case edit != nil:
		d.Edit = *edit
	case r.URL.Query().Get("edit") != "":
		n, _ := strconv.Atoi(r.URL.Query().Get("edit"))
		if g, ok := set.byID(n); ok {
			d.Edit = g
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	d.Status = status
	if err := t.ExecuteTemplate(w, "signatures", d); err != nil {
		s.log.Error("webmail: render", "template", "signatures", "err", err)
	}
}

func (s *Server) signaturesPost(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template) {
	fs := s.opt.Mail.FilterState
	if fs == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("Signatures are not available on this server right now; try again later."))
		return
	}
	ctx := r.Context()
	set, err := loadSigs(ctx, fs, c)
	if err != nil {
		s.log.Error("webmail: signatures", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("The signatures could not be read right now; try again in a moment."))
		return
	}
	form := Signature{Name: r.PostFormValue("name"), Text: r.PostFormValue("text")}
	form.ID, _ = strconv.Atoi(r.PostFormValue("id"))
	var done string
	switch r.PostFormValue("op") {
	case "save":
		done, err = "saved", applySigSave(c.ui, &set, form)
	case "delete":
		done, err = "deleted", applySigDelete(c.ui, &set, form.ID)
	case "defaults":
		done, err = "defaults", applySigDefaults(c.ui, &set, r.PostForm["identity"], r.PostForm["default"], s.identities(ctx, c.p.acct))
	default:
		err = badForm("%s", c.ui.T("Unknown action."))
	}
	if err == nil {
		err = saveSigs(ctx, fs, c, set)
	}
	var fe *formError
	switch {
	case errors.As(err, &fe):
		s.signaturesPage(w, r, c, t, fe.status, fe.msg, &form)
		return
	case err != nil:
		s.log.Error("webmail: save signatures", "err", err)
		s.signaturesPage(w, r, c, t, http.StatusServiceUnavailable, c.ui.T("Not saved: a temporary problem; try again in a moment."), &form)
		return
	}
	http.Redirect(w, r, "/mail/signatures?done="+done, http.StatusSeeOther)
}

func applySigSave(ui uiPrefs, set *sigSet, g Signature) error {
	g.Name = strings.TrimSpace(g.Name)
	if err := checkLine("Name", g.Name); err != nil {
		return err
	}
	if g.Name == "" || utf8.RuneCountInString(g.Name) > maxSigName {
		return badForm(ui.T("A signature needs a name of 1 to %d characters."), maxSigName)
	}
	text, err := normSigText(ui, g.Text)
	if err != nil {
		return err
	}
	g.Text = text
	if g.ID == 0 {
		if len(set.List) >= maxSigs {
			return badForm(ui.T("At most %d signatures."), maxSigs)
		}
		set.Next++
		g.ID = set.Next
		set.List = append(set.List, g)
		return nil
	}
	i := slices.IndexFunc(set.List, func(x Signature) bool { return x.ID == g.ID })
	if i < 0 {
		return &formError{status: http.StatusNotFound, msg: ui.T("No such signature.")}
	}
	set.List[i] = g
	return nil
}

func applySigDelete(ui uiPrefs, set *sigSet, id int) error {
	i := slices.IndexFunc(set.List, func(x Signature) bool { return x.ID == id })
	if i < 0 {
		return &formError{status: http.StatusNotFound, msg: ui.T("No such signature.")}
	}
	set.List = slices.Delete(set.List, i, i+1)
	for k, v := range set.Defaults {
		if v == id {
			delete(set.Defaults, k)
		}
	}
	return nil
}

// applySigDefaults sets each identity's default (0 none) from the paired form fields.
func applySigDefaults(ui uiPrefs, set *sigSet, ids, defs, mine []string) error {
	if len(ids) != len(defs) {
		return badForm("%s", ui.T("The form is not valid."))
	}
	next := map[string]int{}
	for i, id := range ids {
		if !slices.ContainsFunc(mine, func(m string) bool { return strings.EqualFold(m, id) }) {
			return &formError{status: http.StatusForbidden, msg: ui.Tf("You cannot send as %q.", id)}
		}
		n, err := strconv.Atoi(defs[i])
		if err != nil {
			return badForm("%s", ui.T("The form is not valid."))
		}
		if n == 0 {
			continue
		}
		if _, ok := set.byID(n); !ok {
			return &formError{status: http.StatusNotFound, msg: ui.T("No such signature.")}
		}
		next[strings.ToLower(id)] = n
	}
	set.Defaults = next
	return nil
}
