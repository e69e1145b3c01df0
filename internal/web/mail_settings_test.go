package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/bayes"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
	"mailgrid/internal/web"
)

// The Settings page against the real delivery pipeline with the real Sieve mailet at the
// local stage: what the page saves changes what happens to delivered mail.

// settingsHarness serves the webmail with the Settings page on the filter state, over a
// pipeline whose local stage runs the account's active Sieve script.
func settingsHarness(t *testing.T) *harness {
	t.Helper()
	e := deliverytest.New(t, deliverytest.Options{Chains: func(e *deliverytest.Env) *filter.Chains {
		c := filter.NewChains(nil)
		rule := filter.Rule{Mailet: &mailets.Sieve{Scripts: e.Filter, Vacations: e.Filter, Hostname: "mx.test"}}
		if err := c.Add(filter.StageLocal, "", rule); err != nil {
			t.Fatal(err)
		}
		return c
	}})
	h := &harness{t: t, env: e, acct: map[string]directory.Account{}}
	e.Domain(t, "a.example", 0, 0)
	h.add(context.Background(), "u1@a.example", directory.RoleUser)
	e.Alias(t, "info@a.example", "u1@a.example")
	h.svc = &admin.Service{Dir: e.Dir, Shards: e.Shards}
	srv, err := web.New(web.Options{Admin: h.svc, Hostname: "mx.test",
		LoginPerIP: web.Limit{Burst: 1000, Every: time.Millisecond},
		Mail:       web.MailOptions{Pipeline: e.Pipeline, FilterState: e.Filter}})
	if err != nil {
		t.Fatal(err)
	}
	h.srv, h.base = srv, serve(t, srv)
	return h
}

// settingsPost posts one Settings form and expects the redirect of a save.
func settingsPost(t *testing.T, c *client, v url.Values) {
	t.Helper()
	st, loc, body := c.post("/mail/settings", v)
	if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/mail/settings?saved=") {
		t.Fatalf("post %v: %d %s\n%s", v, st, loc, body)
	}
}

func msgFrom(from, subject string) string {
	return "From: " + from + "\nTo: u1@a.example\nSubject: " + subject + "\nMessage-ID: <" +
		strings.ReplaceAll(subject, " ", ".") + "@remote.example>\n\nhello\n"
}

func TestMailSettingsRuleFiles(t *testing.T) {
	h := settingsHarness(t)
	c := h.loggedIn("u1@a.example")
	if st, _, body := c.post("/mail/folders", url.Values{"op": {"create"}, "name": {"Reports"}, "back": {"/mail/"}}); st != http.StatusSeeOther {
		t.Fatalf("create folder: %d %s", st, body)
	}
	settingsPost(t, c, url.Values{"op": {"rule-save"}, "name": {"reports"}, "match": {"all"},
		"c0_field": {"subject"}, "c0_op": {"contains"}, "c0_value": {"[report]"},
		"a0_type": {"fileinto"}, "a0_mailbox": {"Reports"}, "a1_type": {"flag"}, "a1_value": {`\Flagged`}})
	settingsPost(t, c, url.Values{"op": {"rule-save"}, "name": {"big"},
		"c0_field": {"size"}, "c0_op": {"over"}, "c0_value": {"1M"}, "a0_type": {"discard"}})

	// The page shows the rules again (read back from the script's settings line).
	_, _, page := c.get("/mail/settings")
	if !strings.Contains(page, "move to Reports") || !strings.Contains(page, "size over 1048576 bytes") {
		t.Fatalf("rules not shown:\n%s", page)
	}
	name, src, err := h.env.Filter.ActiveScript(context.Background(), deliverytest.Ref(h.acct["u1@a.example"]))
	if err != nil || name != web.SettingsScript || !strings.Contains(src, `fileinto`) {
		t.Fatalf("active script %q %v:\n%s", name, err, src)
	}

	h.deliver("u1@a.example", msgFrom("boss@remote.example", "weekly [report] 12"))
	h.deliver("u1@a.example", msgFrom("boss@remote.example", "lunch"))
	if got := h.env.Messages(t, h.acct["u1@a.example"], "Reports"); len(got) != 1 || !strings.Contains(string(got[0].Body), "[report]") {
		t.Fatalf("Reports holds %d messages", len(got))
	} else if !hasFlag(got[0].Flags, `\Flagged`) {
		t.Fatalf("filed message not flagged: %v", got[0].Flags)
	}
	if got := h.env.Messages(t, h.acct["u1@a.example"], ""); len(got) != 1 || !strings.Contains(string(got[0].Body), "lunch") {
		t.Fatalf("INBOX holds %d messages", len(got))
	}

	// Reorder: the size rule moves up, then is deleted.
	settingsPost(t, c, url.Values{"op": {"rule-up"}, "idx": {"1"}})
	_, _, page = c.get("/mail/settings")
	if strings.Index(page, "size over") > strings.Index(page, "move to Reports") {
		t.Fatal("rule-up did not reorder")
	}
	settingsPost(t, c, url.Values{"op": {"rule-delete"}, "idx": {"0"}})
	_, _, page = c.get("/mail/settings")
	if strings.Contains(page, "size over") || !strings.Contains(page, "move to Reports") {
		t.Fatal("rule-delete removed the wrong rule")
	}
	// Editing fills the form with the stored rule; saving it replaces it in place.
	if _, _, page = c.get("/mail/settings?edit=0"); !strings.Contains(page, `value="[report]"`) || !strings.Contains(page, "Edit rule 1") {
		t.Fatalf("edit form not filled:\n%s", page)
	}
	settingsPost(t, c, url.Values{"op": {"rule-save"}, "idx": {"0"}, "c0_field": {"from"}, "c0_op": {"is"}, "c0_value": {"boss@remote.example"},
		"a0_type": {"fileinto"}, "a0_mailbox": {"Reports"}})
	if _, _, page = c.get("/mail/settings"); strings.Count(page, `data-rule=`) != 1 || !strings.Contains(page, `from is &#34;boss@remote.example&#34;`) {
		t.Fatalf("edited rule not shown:\n%s", page)
	}
	h.deliver("u1@a.example", msgFrom("boss@remote.example", "lunch again"))
	if got := h.env.Messages(t, h.acct["u1@a.example"], "Reports"); len(got) != 2 {
		t.Fatalf("Reports holds %d messages after the edit, want 2", len(got))
	}
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

func TestMailSettingsVacationForwardBlock(t *testing.T) {
	h := settingsHarness(t)
	c := h.loggedIn("u1@a.example")
	// A hostile subject is refused (one line); nothing stored.
	st, _, body := c.post("/mail/settings", url.Values{"op": {"vacation"}, "enabled": {"1"},
		"subject": {"Away\r\nBcc: victim@evil.example"}, "body": {"x"}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "single line") {
		t.Fatalf("hostile subject: %d\n%s", st, body)
	}
	if _, err := h.env.Filter.Script(context.Background(), deliverytest.Ref(h.acct["u1@a.example"]), web.SettingsScript); err == nil {
		t.Fatal("a refused form stored a script")
	}
	// Sieve metacharacters in subject and text stay text (quoted by the generator).
	hostile := `Away"; discard; redirect "x@evil.example`
	text := "I am away.\r\n\"; keep; }\r\nBcc: victim@evil.example\r\n\\ bye"
	settingsPost(t, c, url.Values{"op": {"vacation"}, "enabled": {"1"}, "subject": {hostile}, "body": {text}, "days": {"3"},
		"start": {time.Now().AddDate(0, 0, -1).Format("2006-01-02")}, "end": {time.Now().AddDate(0, 0, 5).Format("2006-01-02")}})
	h.deliver("u1@a.example", msgFrom("sender@remote.example", "first"))
	h.deliver("u1@a.example", msgFrom("sender@remote.example", "second"))
	if got := h.env.Messages(t, h.acct["u1@a.example"], ""); len(got) != 2 {
		t.Fatalf("INBOX holds %d, want both kept", len(got))
	}
	items := h.env.QueueItems(t)
	if len(items) != 1 {
		t.Fatalf("queued %d auto-replies, want 1", len(items))
	}
	reply := strings.ReplaceAll(string(items[0].Body), "\r\n", "\n")
	head, _, _ := strings.Cut(reply, "\n\n")
	if items[0].Recipients[0].Addr != "sender@remote.example" || !strings.Contains(head, `Subject: Away"; discard; redirect "x@evil.example`) ||
		strings.Contains(head, "victim") || !strings.Contains(reply, `"; keep; }`) {
		t.Fatalf("reply to %v:\n%s", items[0].Recipients, reply)
	}

	// Mail to an alias of the account is answered too (the mailet sees the alias as the
	// recipient; the page also lists the aliases as :addresses, RFC 5230 4.5).
	raw := strings.ReplaceAll(strings.Replace(msgFrom("sender2@remote.example", "via alias"), "To: u1@", "To: info@", 1), "\n", "\r\n")
	env := &delivery.Envelope{From: mail.MustParse("sender2@remote.example"),
		Recipients: []delivery.Recipient{{Addr: mail.MustParse("info@a.example")}}, Received: time.Now()}
	if res, err := h.env.Pipeline.Deliver(context.Background(), env, delivery.Bytes(raw)); err != nil || res[0].Err != nil {
		t.Fatalf("deliver to the alias: %v %v", err, res[0].Err)
	}
	if items = h.env.QueueItems(t); len(items) != 2 {
		t.Fatalf("queued %d auto-replies after mail to the alias, want 2", len(items))
	}

	// Forward with a copy; then block a sender.
	settingsPost(t, c, url.Values{"op": {"vacation"}}) // auto-reply off
	settingsPost(t, c, url.Values{"op": {"forward"}, "forward_to": {"me@elsewhere.example"}, "keep": {"1"}})
	settingsPost(t, c, url.Values{"op": {"lists"}, "block": {"spammer.example\nbad@remote.example"}, "allow": {"good@spammer.example"}})
	h.deliver("u1@a.example", msgFrom("news@remote.example", "third"))
	h.deliver("u1@a.example", msgFrom("bad@remote.example", "blocked one"))
	h.deliver("u1@a.example", msgFrom("x@spammer.example", "blocked two"))
	h.deliver("u1@a.example", msgFrom("good@spammer.example", "allowed"))
	inbox := h.env.Messages(t, h.acct["u1@a.example"], "")
	var subjects []string
	for _, m := range inbox {
		_, rest, _ := strings.Cut(string(m.Body), "Subject: ")
		subj, _, _ := strings.Cut(rest, "\r\n")
		subjects = append(subjects, subj)
	}
	if len(inbox) != 5 || strings.Contains(strings.Join(subjects, ","), "blocked") {
		t.Fatalf("INBOX: %v", subjects)
	}
	fwd := 0
	for _, it := range h.env.QueueItems(t) {
		if it.Recipients[0].Addr == "me@elsewhere.example" {
			fwd++
		}
	}
	if fwd != 2 { // "third" and "allowed"; blocked ones are discarded before forwarding
		t.Fatalf("forwarded %d copies, want 2", fwd)
	}
	_, _, page := c.get("/mail/settings")
	if !strings.Contains(page, "me@elsewhere.example") || !strings.Contains(page, "good@spammer.example") {
		t.Fatal("forward and lists not shown again")
	}
}

func TestMailSettingsValidationCSRFSpamAndOtherScript(t *testing.T) {
	h := settingsHarness(t)
	c := h.loggedIn("u1@a.example")
	ref := deliverytest.Ref(h.acct["u1@a.example"])
	ctx := context.Background()
	// CSRF.
	if st, _, _ := c.post("/mail/settings", url.Values{"csrf_token": {"wrong"}, "op": {"spam"}, "level": {"off"}}); st != http.StatusForbidden {
		t.Fatalf("wrong CSRF token: %d", st)
	}
	// Bad input: shown, nothing changed.
	for _, v := range []url.Values{
		{"op": {"rule-save"}, "c0_field": {"subject"}, "c0_op": {"contains"}, "c0_value": {"x"}}, // no action
		{"op": {"rule-save"}, "c0_field": {"size"}, "c0_op": {"over"}, "c0_value": {"lots"}, "a0_type": {"discard"}},
		{"op": {"rule-save"}, "c0_field": {"header"}, "c0_header": {"X-A: b"}, "c0_op": {"is"}, "c0_value": {"x"}, "a0_type": {"discard"}},
		{"op": {"rule-save"}, "a0_type": {"forward"}, "a0_value": {"not an address"}},
		{"op": {"vacation"}, "enabled": {"1"}, "body": {"x"}, "start": {"2026-05-02"}, "end": {"2026-05-01"}},
		{"op": {"vacation"}, "enabled": {"1"}, "body": {""}},
		{"op": {"spam"}, "level": {"extreme"}},
		{"op": {"rule-delete"}, "idx": {"4"}},
	} {
		st, _, body := c.post("/mail/settings", v)
		if st != http.StatusUnprocessableEntity || !strings.Contains(body, `class="error"`) {
			t.Fatalf("%v: %d\n%s", v, st, body)
		}
	}
	if l, err := h.env.Filter.SpamLevel(ctx, ref); err != nil || l != bayes.DefaultLevel {
		t.Fatalf("spam level changed by bad input: %v %v", l, err)
	}
	if list, err := h.env.Filter.Scripts(ctx, ref); err != nil || len(list) != 0 {
		t.Fatalf("scripts after bad input: %v %v", list, err)
	}
	settingsPost(t, c, url.Values{"op": {"spam"}, "level": {"high"}})
	if l, err := h.env.Filter.SpamLevel(ctx, ref); err != nil || l != bayes.LevelHigh {
		t.Fatalf("spam level: %v %v", l, err)
	}

	// Another active script (ManageSieve) is not replaced silently.
	if err := h.env.Filter.PutScript(ctx, ref, "mine", "keep;\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := h.env.Filter.SetActive(ctx, ref, "mine"); err != nil {
		t.Fatal(err)
	}
	settingsPost(t, c, url.Values{"op": {"forward"}, "forward_to": {"me@elsewhere.example"}})
	if name, _, err := h.env.Filter.ActiveScript(ctx, ref); err != nil || name != "mine" {
		t.Fatalf("active %q %v, want mine kept", name, err)
	}
	_, _, page := c.get("/mail/settings")
	if !strings.Contains(page, `id="other-script"`) || !strings.Contains(page, "mine") {
		t.Fatalf("no notice of the other script:\n%s", page)
	}
	settingsPost(t, c, url.Values{"op": {"activate"}})
	if name, _, err := h.env.Filter.ActiveScript(ctx, ref); err != nil || name != web.SettingsScript {
		t.Fatalf("active %q %v after switching", name, err)
	}
	if _, _, page = c.get("/mail/settings"); strings.Contains(page, `id="other-script"`) {
		t.Fatal("notice still shown after switching")
	}
}

// TestMailBlockSender: the reading view's "Block sender" puts the From address on the
// block list (once, taken off the allow list), and the sender's next mail is discarded;
// a From that does not parse is refused and changes nothing.
func TestMailBlockSender(t *testing.T) {
	h := settingsHarness(t)
	c := h.loggedIn("u1@a.example")
	settingsPost(t, c, url.Values{"op": {"lists"}, "block": {""}, "allow": {"pest@remote.example"}})
	h.deliver("u1@a.example", msgFrom("Pest <Pest@Remote.example>", "first"))
	in := h.box("u1@a.example", store.Inbox)
	ms := h.msgs("u1@a.example", in)
	if len(ms) != 1 {
		t.Fatalf("%d messages", len(ms))
	}
	_, _, page := c.get(fmt.Sprintf("/mail/m/%d/%d", in.ID, ms[0].UID))
	if !strings.Contains(page, `id="block-sender"`) || !strings.Contains(page, `value="block-sender"`) {
		t.Fatalf("no block-sender button:\n%s", page)
	}
	for range 2 { // twice: listed once
		settingsPost(t, c, url.Values{"op": {"block-sender"}, "from": {"Pest <Pest@Remote.example>"}})
	}
	if st, _, _ := c.post("/mail/settings", url.Values{"op": {"block-sender"}, "from": {"not an address"}}); st != http.StatusUnprocessableEntity {
		t.Fatalf("bad From: %d", st)
	}
	_, _, set := c.get("/mail/settings")
	if strings.Count(set, "pest@remote.example") != 1 {
		t.Fatalf("settings page lists the sender %d times (want once, on the block list):\n%s", strings.Count(set, "pest@remote.example"), set)
	}
	h.deliver("u1@a.example", msgFrom("pest@remote.example", "second"))
	h.deliver("u1@a.example", msgFrom("friend@remote.example", "third"))
	if n := len(h.msgs("u1@a.example", in)); n != 2 {
		t.Fatalf("INBOX holds %d messages, want 2 (the blocked sender's second one discarded)", n)
	}
}

// TestMailSettingsDomainFilters: the Settings page says, read-only, whether virus
// scanning and spam filtering are on for the account's domain (the domain's switches),
// and for one that is off whether the domain's plan leaves it out.
func TestMailSettingsDomainFilters(t *testing.T) {
	h := settingsHarness(t)
	ctx := context.Background()
	c := h.loggedIn("u1@a.example")
	check := func(want ...string) {
		t.Helper()
		code, _, page := c.get("/mail/settings")
		if code != http.StatusOK {
			t.Fatalf("settings: %d", code)
		}
		for _, w := range want {
			if !strings.Contains(page, w) {
				t.Errorf("settings page lacks %q", w)
			}
		}
		if n := strings.Count(page, "plan does not include it"); n != strings.Count(strings.Join(want, "\n"), "plan does not include it") {
			t.Errorf("%d plan notes, want those of %q", n, want)
		}
	}
	check(`<span id="antivirus-status">Virus scanning: on for your domain</span>`, `<span id="antispam-status">Spam filtering: on for your domain</span>`)

	if err := h.env.Filter.SetDomainSwitches(ctx, "a.example", filter.Switches{NoAntivirus: true}); err != nil {
		t.Fatal(err)
	}
	check(`<span id="antivirus-status">Virus scanning: off for your domain</span>`, `<span id="antispam-status">Spam filtering: on for your domain</span>`)

	// A plan with spam filtering but no virus scanning; both switched off.
	if err := h.env.Dir.CreatePlan(ctx, directory.Plan{Name: "basic", Antispam: true}); err != nil {
		t.Fatal(err)
	}
	if err := h.env.Dir.SetDomainPlan(ctx, "a.example", "basic"); err != nil {
		t.Fatal(err)
	}
	if err := h.env.Filter.SetDomainSwitches(ctx, "a.example", filter.Switches{NoAntivirus: true, NoAntispam: true}); err != nil {
		t.Fatal(err)
	}
	check(`Virus scanning: off for your domain (your domain&#39;s plan does not include it)</span>`,
		`<span id="antispam-status">Spam filtering: off for your domain</span>`)
	// Another domain's switches do not show.
	if err := h.env.Filter.SetDomainSwitches(ctx, "a.example", filter.Switches{}); err != nil {
		t.Fatal(err)
	}
	if err := h.env.Filter.SetDomainSwitches(ctx, "b.example", filter.Switches{NoAntivirus: true, NoAntispam: true}); err != nil {
		t.Fatal(err)
	}
	check(`Virus scanning: on for your domain`, `Spam filtering: on for your domain`)
}
