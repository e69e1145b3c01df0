package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/store"
	"mailgrid/internal/web"
)

// Display preferences and the image sender list, over the real filter state (where
// they are stored) and the real store and pipeline.

// prefsHarness is the webmail with its filter state (Settings and Preferences).
func prefsHarness(t *testing.T) *harness {
	t.Helper()
	return mailHarness(t, func(o *web.MailOptions, e *deliverytest.Env) { o.FilterState = e.Filter })
}

func prefsPost(t *testing.T, c *client, v url.Values, wantLoc string) {
	t.Helper()
	st, loc, body := c.post("/mail/prefs", v)
	if st != http.StatusSeeOther || loc != wantLoc {
		t.Fatalf("post %v: %d %q, want 303 %q\n%s", v, st, loc, wantLoc, body)
	}
}

func TestMailPrefsDisplay(t *testing.T) {
	h := prefsHarness(t)
	c := h.loggedIn("u1@a.example")
	for i := range 12 {
		h.deliver("u1@a.example", fmt.Sprintf(textMail, fmt.Sprintf("msg %02d", i), fmt.Sprintf("p%d", i), "you"))
	}
	in := h.box("u1@a.example", store.Inbox)
	list := fmt.Sprintf("/mail/f/%d", in.ID)

	// Defaults: English, UTC, the browser's theme, list only, the server's page size.
	_, hdr, page := c.get(list)
	if !strings.Contains(page, `<html lang="en">`) || strings.Contains(page, "data-theme") ||
		!strings.Contains(page, `data-layout="list"`) || strings.Contains(page, "reading-pane") ||
		strings.Contains(hdr.Get("Content-Security-Policy"), "frame-src") {
		t.Fatalf("default page: %s", page[:min(len(page), 600)])
	}
	if n := strings.Count(page, `<tr class="row`); n != 12 {
		t.Errorf("default page size: %d rows", n)
	}

	prefsPost(t, c, url.Values{"op": {"display"}, "page_size": {"10"}, "tz": {"Asia/Shanghai"},
		"lang": {"zh-CN"}, "theme": {"dark"}, "layout": {"pane"}}, "/mail/prefs?saved=display")

	_, hdr, page = c.get(list)
	for _, want := range []string{`<html lang="zh-CN" data-theme="dark">`, `data-layout="pane"`, `id="reading-pane"`,
		">写邮件<", ">偏好设置<", "收件箱", `id="next-page"`} {
		if !strings.Contains(page, want) {
			t.Errorf("after saving, the list lacks %q", want)
		}
	}
	if !strings.Contains(hdr.Get("Content-Security-Policy"), "frame-src 'self'") {
		t.Errorf("pane layout CSP %q", hdr.Get("Content-Security-Policy"))
	}
	if n := strings.Count(page, `<tr class="row`); n != 10 {
		t.Errorf("page size 10: %d rows", n)
	}
	// List dates are the arrival time in the chosen zone.
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	newest := h.msgs("u1@a.example", in)[11]
	if want := newest.InternalDate.In(sh).Format("2006-01-02 15:04"); !strings.Contains(page, `<td class="date">`+want+`</td>`) {
		t.Errorf("list date not in Asia/Shanghai (%s)", want)
	}
	// The reading view shows the Date field in the zone: 10:00 UTC is 18:00 in Shanghai.
	_, _, rd := c.get(fmt.Sprintf("/mail/m/%d/%d", in.ID, newest.UID))
	if !strings.Contains(rd, `<dd id="date">Mon, 2026-03-02 18:00 CST</dd>`) {
		t.Errorf("read date: %s", regexp.MustCompile(`<dd id="date">[^<]*`).FindString(rd))
	}
	// Every page renders in Chinese without a formatting slip (a fmt verb given the
	// wrong argument shows as "%!").
	for _, path := range []string{list, list + "?thread=1", list + "?filter=unread&sort=subject", "/mail/search?q=msg",
		"/mail/search?advanced=1", "/mail/compose", fmt.Sprintf("/mail/compose?reply=%d/%d", in.ID, newest.UID),
		"/mail/settings", "/mail/prefs", "/mail/contacts", fmt.Sprintf("/mail/m/%d/999", in.ID)} {
		_, _, p := c.get(path)
		if strings.Contains(p, "%!") || !strings.Contains(p, `lang="zh-CN"`) {
			t.Errorf("%s in Chinese: %s", path, p)
		}
	}
	// The Settings page speaks the chosen language too.
	if _, _, sp := c.get("/mail/settings"); !strings.Contains(sp, "<h2>自动回复</h2>") || !strings.Contains(sp, ">保存规则<") {
		t.Errorf("settings page not in Chinese")
	}
	// The page shows what is stored.
	_, _, pp := c.get("/mail/prefs")
	for _, want := range []string{`value="10"`, `list="tz-list" value="Asia/Shanghai"`, `<option value="zh-CN" lang="zh-CN" selected>`,
		`<option value="dark" selected>`, `<option value="pane" selected>`, "<h2>显示</h2>"} {
		if !strings.Contains(pp, want) {
			t.Errorf("prefs page lacks %q", want)
		}
	}
}

func TestMailPrefsRefusals(t *testing.T) {
	h := prefsHarness(t)
	c := h.loggedIn("u1@a.example")
	prefsPost(t, c, url.Values{"op": {"display"}, "tz": {"Europe/Berlin"}, "lang": {"en"}, "theme": {"contrast"}}, "/mail/prefs?saved=display")
	for _, v := range []url.Values{
		{"op": {"display"}, "tz": {"Mars/Olympus"}},
		{"op": {"display"}, "tz": {"Local"}},
		{"op": {"display"}, "tz": {"../../etc/passwd"}},
		{"op": {"display"}, "page_size": {"5"}},
		{"op": {"display"}, "page_size": {"x"}},
		{"op": {"display"}, "theme": {"neon"}},
		{"op": {"display"}, "lang": {"fr"}},
		{"op": {"display"}, "layout": {"grid"}},
		{"op": {"senders"}, "senders": {"not an address"}},
		{"op": {"allow-sender"}, "sender": {"a@b\r\nBcc: x@y"}},
		{"op": {"nothing"}},
	} {
		if st, _, body := c.post("/mail/prefs", v); st != http.StatusUnprocessableEntity || !strings.Contains(body, `class="error"`) {
			t.Errorf("%v: %d, want 422 with the reason", v, st)
		}
	}
	if st, _, _ := c.post("/mail/prefs", url.Values{"csrf_token": {"forged"}, "op": {"display"}, "lang": {"zh-CN"}}); st != http.StatusForbidden {
		t.Errorf("forged CSRF: %d", st)
	}
	_, _, pp := c.get("/mail/prefs")
	if !strings.Contains(pp, `list="tz-list" value="Europe/Berlin"`) || !strings.Contains(pp, `data-theme="contrast"`) || !strings.Contains(pp, `<html lang="en"`) {
		t.Errorf("a refused form changed the preferences")
	}
	// Another account has its own preferences.
	_, _, other := h.loggedIn("u2@a.example").get("/mail/prefs")
	if strings.Contains(other, `list="tz-list" value="Europe/Berlin"`) || strings.Contains(other, "data-theme") {
		t.Errorf("u2 sees u1's preferences")
	}
	// The preferences are a document, never a Sieve script (ManageSieve lists none).
	ref := deliverytest.Ref(h.acct["u1@a.example"])
	if doc, err := h.env.Filter.Doc(context.Background(), ref, web.PrefsDoc); err != nil || !strings.Contains(string(doc), "Europe/Berlin") {
		t.Errorf("preferences document: %q, %v", doc, err)
	}
	if scripts, err := h.env.Filter.Scripts(context.Background(), ref); err != nil || len(scripts) != 0 {
		t.Errorf("Sieve scripts after saving preferences: %v, %v; want none", scripts, err)
	}
}

func TestMailPrefsImageSenders(t *testing.T) {
	h := prefsHarness(t)
	c := h.loggedIn("u1@a.example")
	h.deliver("u1@a.example", htmlMail) // from mallory@remote.example
	h.deliver("u1@a.example", strings.Replace(strings.Replace(htmlMail, "mallory@remote.example", "eve@remote.example", 1),
		"<html1@", "<html2@", 1))
	in := h.box("u1@a.example", store.Inbox)
	ms := h.msgs("u1@a.example", in)
	read := func(i int) string { return fmt.Sprintf("/mail/m/%d/%d", in.ID, ms[i].UID) }

	_, _, page := c.get(read(0))
	if !strings.Contains(page, "1 remote image blocked") || !strings.Contains(page, `src="`+read(0)+`/frame"`) ||
		!strings.Contains(page, `name="sender" value="mallory@remote.example"`) {
		t.Fatalf("before allowing: %s", page)
	}
	prefsPost(t, c, url.Values{"op": {"allow-sender"}, "sender": {"Mallory@remote.example"}, "back": {read(0)}}, read(0))

	_, _, page = c.get(read(0))
	if strings.Contains(page, "remote image blocked") || !strings.Contains(page, `src="`+read(0)+`/frame?images=1"`) ||
		!strings.Contains(page, `id="images-sender-allowed"`) {
		t.Errorf("the allowed sender's images are not shown: %s", page)
	}
	_, _, page = c.get(read(1))
	if !strings.Contains(page, "1 remote image blocked") || strings.Contains(page, "frame?images=1") {
		t.Errorf("another sender's images are shown")
	}
	_, _, pp := c.get("/mail/prefs")
	if !strings.Contains(pp, ">mallory@remote.example</textarea>") {
		t.Errorf("the list does not show the sender")
	}
	// Edited in Preferences: emptied, the images are blocked again.
	prefsPost(t, c, url.Values{"op": {"senders"}, "senders": {""}}, "/mail/prefs?saved=senders")
	if _, _, page = c.get(read(0)); !strings.Contains(page, "1 remote image blocked") {
		t.Errorf("after removing the sender, images still shown")
	}
}

// TestMailPrefsCost measures (asserts nothing about time) what reading the preferences
// on every page costs: the list page of 50 messages on a server without a filter state
// ("none"), with one but nothing stored ("fs"), and with a stored zone, language or all
// of zone, language and theme (one filter state read more, a zone loaded). CPU time
// per page (process user+system time, which a loaded machine does not inflate as much as
// wall time) and allocations. It runs only with MAILGRID_BENCH_PREFS=1.
func TestMailPrefsCost(t *testing.T) {
	if os.Getenv("MAILGRID_BENCH_PREFS") == "" {
		t.Skip("set MAILGRID_BENCH_PREFS=1 to measure the cost of the preferences per page")
	}
	for _, variant := range []string{"none", "fs", "tz", "lang", "all"} {
		withPrefs := variant != "none"
		h := mailHarness(t, nil)
		if withPrefs {
			h = prefsHarness(t)
		}
		c := h.loggedIn("u1@a.example")
		for i := range 50 {
			h.deliver("u1@a.example", fmt.Sprintf(textMail, fmt.Sprintf("m%d", i), fmt.Sprintf("c%d", i), "x"))
		}
		switch variant {
		case "tz":
			prefsPost(t, c, url.Values{"op": {"display"}, "tz": {"Asia/Shanghai"}}, "/mail/prefs?saved=display")
		case "lang":
			prefsPost(t, c, url.Values{"op": {"display"}, "lang": {"zh-CN"}}, "/mail/prefs?saved=display")
		case "all":
			prefsPost(t, c, url.Values{"op": {"display"}, "tz": {"Asia/Shanghai"}, "lang": {"zh-CN"}, "theme": {"dark"}}, "/mail/prefs?saved=display")
		}
		path := fmt.Sprintf("/mail/f/%d", h.box("u1@a.example", store.Inbox).ID)
		cpu0 := cpuTime(t)
		r := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.get(path)
			}
		})
		cpu := cpuTime(t) - cpu0
		t.Logf("preferences %v: %v CPU per page (client and server), %v wall, %d allocs/op, %d runs",
			variant, cpu/time.Duration(r.N), time.Duration(r.NsPerOp()), r.AllocsPerOp(), r.N)
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
