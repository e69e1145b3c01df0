package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/bayes"
	"mailgrid/internal/filter/sieve"
)

// The webmail's Settings page (/mail/settings): auto-reply, auto-forward, filter rules,
// block and allow lists, and the spam level.
//
// Model: everything but the spam level is one sieve.Settings value, compiled by
// sieve.Generate into ONE Sieve script named SettingsScript, which the Sieve mailet runs
// at the local stage like any script uploaded over ManageSieve. The structured value is
// kept inside the script itself, as its first line: a comment "# mailgrid-settings:
// <base64 of the JSON>" (RFC 5228 2.3: a hash comment runs to the end of the line, and
// base64 has no line breaks), so the page reads back exactly what it saved and the
// script and its source of truth can never disagree. Each form changes a copy, which is
// generated (refused with the generator's message on bad input, nothing stored) and
// then stored with one PutScript. The script is made active when no script or it is
// active; when the user activated another script (ManageSieve), the page says so and
// offers to switch instead of replacing it silently. The spam level is
// filter.Settings.SetSpamLevel.

// SettingsScript is the name of the script the Settings page generates.
const SettingsScript = "mailgrid-webmail"

// settingsMarker starts the line of the script that holds the structured settings.
const settingsMarker = "# mailgrid-settings: "

// MailFilterState is the filter state the Settings page reads and writes: the spam
// levels, the account's Sieve scripts and its documents (signatures, preferences; the
// driver of internal/filter, flt.db).
type MailFilterState interface {
	filter.Settings
	filter.SieveScripts
	filter.AccountDocs
}

// settingsView is what mail_settings.html shows.
type settingsView struct {
	S           sieve.Settings
	Spam        string
	Active      string // the active script's name; "" none
	Ours        bool   // the active script is SettingsScript
	Stored      bool   // SettingsScript exists
	Edit        sieveRuleForm
	EditIndex   int // -1 for a new rule
	Rules       []sieveRuleRow
	BlockText   string
	AllowText   string
	ForwardText string
	VacOn       bool
	VacStart    string
	VacEnd      string
	Mailboxes   []string
	Filters     *domainFilters // nil: the domain's switches could not be read
}

// domainFilters is the read-only status of the domain's virus scanning and spam
// filtering (filter.Switches; a state without switches leaves both on), and for a
// filter that is off whether the domain's plan offers it back (directory.Plan).
type domainFilters struct {
	Antivirus, Antispam                   bool
	AntivirusNotInPlan, AntispamNotInPlan bool
}

// settingsPage is the page data: the common webmail page plus the settings.
type settingsPage struct {
	mailPage
	Set *settingsView
}

// loadSettings reads the stored settings (zero when none) and the script state.
func loadSettings(ctx context.Context, fs MailFilterState, c *mailCtx) (*settingsView, error) {
	v := &settingsView{EditIndex: -1}
	src, err := fs.Script(ctx, c.ref, SettingsScript)
	switch {
	case errors.Is(err, filter.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		v.Stored = true
		if s, ok := decodeSettings(src); ok {
			v.S = s
		}
	}
	name, _, err := fs.ActiveScript(ctx, c.ref)
	if err != nil && !errors.Is(err, filter.ErrNotFound) {
		return nil, err
	}
	v.Active, v.Ours = name, name == SettingsScript
	lvl, err := fs.SpamLevel(ctx, c.ref)
	if err != nil {
		return nil, err
	}
	v.Spam = lvl.String()
	return v, nil
}

// encodeSettings is the stored script: the marker line, then the generated script.
func encodeSettings(s sieve.Settings) (string, error) {
	script, err := sieve.Generate(s)
	if err != nil {
		return "", err
	}
	j, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	return settingsMarker + base64.StdEncoding.EncodeToString(j) + "\r\n" + script, nil
}

// decodeSettings reads the structured settings back from a stored script.
func decodeSettings(src string) (sieve.Settings, bool) {
	var s sieve.Settings
	line, _, _ := strings.Cut(src, "\n")
	enc, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), settingsMarker)
	if !ok {
		return s, false
	}
	j, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || json.Unmarshal(j, &s) != nil {
		return sieve.Settings{}, false
	}
	return s, true
}

// mailSettingsPages mounts the Settings page; its template is parsed once here, on a
// clone of the webmail's templates (it uses "top" and "bottom").
func (s *Server) mailSettingsPages(a *mailAssets, page func(string, func(http.ResponseWriter, *http.Request, *mailCtx))) {
	t, err := a.t.Clone()
	if err == nil {
		_, err = t.Funcs(settingsFuncs).ParseFS(assetFS, "assets/mail_settings.html")
	}
	if err != nil {
		s.log.Error("webmail: settings template", "err", err)
		return
	}
	page("GET /mail/settings", func(w http.ResponseWriter, r *http.Request, c *mailCtx) {
		s.mailSettings(w, r, c, t, "", http.StatusOK)
	})
	page("POST /mail/settings", func(w http.ResponseWriter, r *http.Request, c *mailCtx) { s.mailSettingsPost(w, r, c, t) })
}

var settingsFuncs = template.FuncMap{
	"list": func(v ...string) []string { return v },
	"inc":  func(i int) int { return i + 1 },
	"actionLabel": func(t string) string {
		return map[string]string{"fileinto": "move to folder", "flag": "flag", "forward": "forward to",
			"discard": "delete", "reject": "reject with reason", "stop": "stop (no further rules)"}[t]
	},
}

// settingsSaved maps a fixed key of the "saved" parameter to its notice.
var settingsSaved = map[string]string{
	"vacation": "Auto-reply saved.", "forward": "Forwarding saved.", "lists": "Block and allow lists saved.",
	"blocked": "The sender is on your block list: their mail is discarded.",
	"rule":    "Rule saved.", "order": "Rules reordered.", "deleted": "Rule deleted.", "spam": "Spam level saved.",
	"activated": "Your settings from this page are now in force.",
}

func (s *Server) mailSettings(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template, errMsg string, status int) {
	fs := s.opt.Mail.FilterState
	if fs == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, "Settings are not available on this server right now; try again later.")
		return
	}
	v, err := loadSettings(r.Context(), fs, c)
	if err != nil {
		s.log.Error("webmail: load settings", "account", c.p.acct.Address.String(), "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The settings are not available right now; try again in a moment.")
		return
	}
	if errMsg != "" {
		// Show what the user typed, not the stored rule, so the mistake can be fixed.
		if r.PostFormValue("op") == "rule-save" {
			v.Edit, v.EditIndex = ruleFormFrom(r), atoiOr(r.PostFormValue("idx"), -1)
		}
	} else if i := atoiOr(r.URL.Query().Get("edit"), -1); i >= 0 && i < len(v.S.Rules) {
		v.Edit, v.EditIndex = ruleFormOf(v.S.Rules[i]), i
	} else {
		v.Edit = blankRuleForm()
	}
	s.fillSettingsView(v, c)
	v.Filters = s.domainFilters(r.Context(), fs, c)
	d := settingsPage{mailPage: s.pageOf(r.Context(), c, "Settings", 0), Set: v}
	d.Back = "/mail/settings"
	d.Error = errMsg
	d.Flash = settingsSaved[r.URL.Query().Get("saved")]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "settings", d); err != nil {
		s.log.Error("webmail: render", "template", "settings", "err", err)
	}
}

func (s *Server) fillSettingsView(v *settingsView, c *mailCtx) {
	for i, rl := range v.S.Rules {
		v.Rules = append(v.Rules, sieveRuleRow{Index: i, Last: i == len(v.S.Rules)-1, Summary: ruleSummary(rl), Name: rl.Name})
	}
	v.BlockText, v.AllowText = strings.Join(v.S.Block, "\n"), strings.Join(v.S.Allow, "\n")
	if v.S.Forward != nil {
		v.ForwardText = strings.Join(v.S.Forward.To, ", ")
	}
	if vac := v.S.Vacation; vac != nil {
		v.VacOn = true
		if !vac.Start.IsZero() {
			v.VacStart = vac.Start.Format(dateLayout)
		}
		if !vac.End.IsZero() {
			v.VacEnd = vac.End.Format(dateLayout)
		}
	}
	for _, b := range c.boxes {
		v.Mailboxes = append(v.Mailboxes, b.Name)
	}
}

// mailSettingsPost applies one form. Bad input re-renders the page (422) with the
// reason and changes nothing; a store fault is a temporary error (503).
func (s *Server) mailSettingsPost(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template) {
	fs := s.opt.Mail.FilterState
	if fs == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, "Settings are not available on this server right now; try again later.")
		return
	}
	ctx := r.Context()
	v, err := loadSettings(ctx, fs, c)
	if err != nil {
		s.log.Error("webmail: load settings", "account", c.p.acct.Address.String(), "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The settings are not available right now; try again in a moment.")
		return
	}
	op := r.PostFormValue("op")
	var saved string
	switch op {
	case "spam":
		saved, err = "spam", s.saveSpam(ctx, fs, c, r.PostFormValue("level"))
	case "activate":
		saved, err = "activated", s.activateSettings(ctx, fs, c, v)
	default:
		set := v.S
		saved, err = applySettingsForm(&set, op, r)
		if err == nil && op == "vacation" && set.Vacation != nil {
			// RFC 5230 4.5: the aliases that deliver here are the user's addresses too.
			set.Vacation.Addresses = s.identities(ctx, c.p.acct)[1:]
		}
		if err == nil {
			err = s.storeSettings(ctx, fs, c, v, set)
		}
	}
	var bad *badInput
	switch {
	case errors.As(err, &bad):
		s.mailSettings(w, r, c, t, bad.msg, http.StatusUnprocessableEntity)
		return
	case err != nil:
		s.log.Error("webmail: save settings", "account", c.p.acct.Address.String(), "op", op, "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The settings could not be saved right now; nothing was changed. Try again in a moment.")
		return
	}
	http.Redirect(w, r, "/mail/settings?saved="+saved, http.StatusSeeOther)
}

// badInput is a refusal of the user's input, shown on the page.
type badInput struct{ msg string }

func (e *badInput) Error() string { return e.msg }

func bad(format string, args ...any) error { return &badInput{fmt.Sprintf(format, args...)} }

func (s *Server) saveSpam(ctx context.Context, fs MailFilterState, c *mailCtx, level string) error {
	if level == "default" {
		return fs.SetSpamLevel(ctx, c.ref, nil)
	}
	l, err := bayes.ParseLevel(level)
	if err != nil {
		return bad("Choose a spam level: off, low, medium or high.")
	}
	return fs.SetSpamLevel(ctx, c.ref, &l)
}

// storeSettings generates and stores set; it activates the script unless the user has
// another one active (ManageSieve), which it does not replace silently.
func (s *Server) storeSettings(ctx context.Context, fs MailFilterState, c *mailCtx, v *settingsView, set sieve.Settings) error {
	src, err := encodeSettings(set)
	if err != nil {
		var se *sieve.SettingsError
		if errors.As(err, &se) {
			return bad("Not saved: %s (%s).", se.Msg, se.Path)
		}
		return bad("Not saved: %v.", err)
	}
	if err := fs.PutScript(ctx, c.ref, SettingsScript, src); err != nil {
		return err
	}
	if v.Active == "" {
		return fs.SetActive(ctx, c.ref, SettingsScript)
	}
	return nil
}

// activateSettings makes the page's script the active one (the user chose to switch
// from another script); a page that never saved stores the empty settings first.
func (s *Server) activateSettings(ctx context.Context, fs MailFilterState, c *mailCtx, v *settingsView) error {
	if !v.Stored {
		src, err := encodeSettings(v.S)
		if err != nil {
			return err
		}
		if err := fs.PutScript(ctx, c.ref, SettingsScript, src); err != nil {
			return err
		}
	}
	return fs.SetActive(ctx, c.ref, SettingsScript)
}

// atoiOr parses a small non-negative integer, else def.
func atoiOr(s string, def int) int {
	n := 0
	if s == "" || len(s) > 6 {
		return def
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return def
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// domainFilters reads the account's domain's filter switches and plan. A fault reading
// them is logged and leaves the status out (nil) rather than failing the page.
func (s *Server) domainFilters(ctx context.Context, fs MailFilterState, c *mailCtx) *domainFilters {
	dom := c.p.acct.Address.Domain
	f := &domainFilters{Antivirus: true, Antispam: true}
	if sw, ok := fs.(filter.DomainSwitches); ok {
		v, err := sw.DomainSwitches(ctx, dom)
		if err != nil {
			s.log.Warn("webmail: the domain's filter switches", "domain", dom, "err", err)
			return nil
		}
		f.Antivirus, f.Antispam = !v.NoAntivirus, !v.NoAntispam
	}
	if f.Antivirus && f.Antispam {
		return f
	}
	ps, ok := s.dir.(directory.PlanStore)
	if !ok {
		return f
	}
	name, err := ps.DomainPlan(ctx, dom)
	if err != nil || name == "" {
		if err != nil {
			s.log.Warn("webmail: the domain's plan", "err", err)
		}
		return f
	}
	pl, err := ps.Plan(ctx, name)
	if err != nil {
		if !errors.Is(err, directory.ErrNotFound) {
			s.log.Warn("webmail: the domain's plan", "plan", name, "err", err)
		}
		return f
	}
	f.AntivirusNotInPlan, f.AntispamNotInPlan = !f.Antivirus && !pl.Antivirus, !f.Antispam && !pl.Antispam
	return f
}
