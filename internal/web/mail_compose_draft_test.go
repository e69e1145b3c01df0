package web_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// keptRe finds a reopened draft's attachment boxes: value (digest) and the name after it.
var keptRe = regexp.MustCompile(`name="keep" value="([0-9a-f]+)" class="kept-attachment"( checked)?> ([^ ]+) \(`)

// keptOf returns a reopened draft's attachments as name -> keep value.
func keptOf(t *testing.T, page string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range keptRe.FindAllStringSubmatch(page, -1) {
		if m[2] == "" {
			t.Errorf("%s is not checked on reopening", m[3])
		}
		out[m[3]] = m[1]
	}
	return out
}

// TestMailDraftAttachments: a draft's attachments appear in compose when it is reopened,
// stay through another save (with the same keep values, though their MIME sections
// change), can be removed by unchecking, and are sent; a keep value the draft does not
// hold is refused and changes nothing.
func TestMailDraftAttachments(t *testing.T) {
	h := mailHarness(t, nil)
	c := h.loggedIn("u1@a.example")
	d := url.Values{"op": {"draft"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"with files"}, "body": {"see attached"}}
	st, loc, body := c.multipartPost("/mail/compose", d, map[string]string{"alpha.txt": "alpha content", "beta.bin": "beta content"})
	if st != http.StatusSeeOther || !strings.Contains(loc, "draft=") {
		t.Fatalf("save: %d %s %s", st, loc, body)
	}
	_, _, page := c.get(loc)
	kept := keptOf(t, page)
	if len(kept) != 2 || kept["alpha.txt"] == "" || kept["beta.bin"] == "" {
		t.Fatalf("reopened draft lists %v: %s", kept, page)
	}
	// Remove beta (unchecked), add gamma, save again.
	ref := strings.TrimPrefix(strings.Split(loc, "&")[0], "/mail/compose?draft=")
	d.Set("draft", ref)
	d["keep"] = []string{kept["alpha.txt"]}
	st, loc, body = c.multipartPost("/mail/compose", d, map[string]string{"gamma.txt": "gamma content"})
	if st != http.StatusSeeOther {
		t.Fatalf("second save: %d %s", st, body)
	}
	drafts := h.box("u1@a.example", store.Drafts)
	if n := len(h.msgs("u1@a.example", drafts)); n != 1 {
		t.Fatalf("%d drafts", n)
	}
	_, _, page = c.get(loc)
	kept2 := keptOf(t, page)
	if len(kept2) != 2 || kept2["alpha.txt"] != kept["alpha.txt"] || kept2["gamma.txt"] == "" {
		t.Fatalf("after the second save %v (first %v)", kept2, kept)
	}

	// A keep value the draft does not hold: refused, nothing sent, the draft stays.
	ref = strings.TrimPrefix(strings.Split(loc, "&")[0], "/mail/compose?draft=")
	d.Set("draft", ref)
	d.Set("op", "send")
	d["keep"] = []string{kept2["alpha.txt"], kept["beta.bin"]}
	if st, _, body := c.multipartPost("/mail/compose", d, nil); st != http.StatusUnprocessableEntity || !strings.Contains(body, "no longer there") ||
		!strings.Contains(body, `value="`+kept2["gamma.txt"]+`"`) {
		t.Fatalf("send with a stale keep value: %d %s", st, body)
	}
	if n := h.env.Total(t, h.acct["u2@a.example"]); n != 0 {
		t.Fatalf("delivered %d", n)
	}

	// Send with both kept: the recipient gets alpha and gamma, not beta; the draft goes.
	d["keep"] = []string{kept2["alpha.txt"], kept2["gamma.txt"]}
	if st, _, body := c.multipartPost("/mail/compose", d, nil); st != http.StatusSeeOther {
		t.Fatalf("send: %d %s", st, body)
	}
	got := h.env.Messages(t, h.acct["u2@a.example"], "")
	if len(got) != 1 {
		t.Fatalf("u2 has %d messages", len(got))
	}
	msg := string(got[0].Body)
	for name, content := range map[string]string{"alpha.txt": "alpha content", "gamma.txt": "gamma content"} {
		if !strings.Contains(msg, name) || !strings.Contains(msg, base64.StdEncoding.EncodeToString([]byte(content))) {
			t.Errorf("sent message lacks %s: %s", name, msg)
		}
	}
	if strings.Contains(msg, "beta.bin") || strings.Contains(msg, base64.StdEncoding.EncodeToString([]byte("beta content"))) {
		t.Errorf("the removed attachment was sent: %s", msg)
	}
	if n := len(h.msgs("u1@a.example", drafts)); n != 0 {
		t.Errorf("%d drafts after sending", n)
	}
}

// TestMailScheduledEditKeepsAttachments: "Edit" of a scheduled message reopens it as a
// draft whose attachment is listed, kept and sent.
func TestMailScheduledEditKeepsAttachments(t *testing.T) {
	h, _ := scheduleHarness(t)
	c := h.loggedIn("u1@a.example")
	at := time.Now().UTC().Add(time.Hour)
	form := url.Values{"op": {"schedule"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"later"}, "body": {"text"},
		"send_at": {at.Format("2006-01-02T15:04")}}
	if code, _, body := c.multipartPost("/mail/compose", form, map[string]string{"plan.txt": "plan content"}); code != http.StatusSeeOther {
		t.Fatalf("schedule: %d %s", code, body)
	}
	_, _, page := c.get("/mail/scheduled")
	ids := scheduledID.FindAllStringSubmatch(page, -1)
	if len(ids) != 1 {
		t.Fatalf("scheduled: %s", page)
	}
	code, loc, body := c.post("/mail/scheduled", url.Values{"op": {"edit"}, "id": {ids[0][1]}})
	if code != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", code, body)
	}
	_, _, page = c.get(loc)
	kept := keptOf(t, page)
	if kept["plan.txt"] == "" {
		t.Fatalf("the edited draft lists %v: %s", kept, page)
	}
	send := url.Values{"op": {"send"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"later"}, "body": {"text"},
		"draft": {strings.TrimPrefix(strings.Split(loc, "&")[0], "/mail/compose?draft=")}, "keep": {kept["plan.txt"]}}
	if code, _, body := c.multipartPost("/mail/compose", send, nil); code != http.StatusSeeOther {
		t.Fatalf("send: %d %s", code, body)
	}
	got := h.env.Messages(t, h.acct["u2@a.example"], "")
	if len(got) != 1 || !strings.Contains(string(got[0].Body), base64.StdEncoding.EncodeToString([]byte("plan content"))) {
		t.Fatalf("u2 got %d messages without the attachment", len(got))
	}
}
