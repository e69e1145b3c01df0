package web_test

import (
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestMailRefusalsInChinese: the refusals and notices the Go code of the signatures and
// scheduled pages writes reach a zh-CN user in Chinese (formatted ones with their
// values), and an English user still in English.
func TestMailRefusalsInChinese(t *testing.T) {
	h, _ := scheduleHarness(t)
	zh, en := h.loggedIn("u1@a.example"), h.loggedIn("u2@a.example")
	prefsPost(t, zh, url.Values{"op": {"display"}, "lang": {"zh-CN"}}, "/mail/prefs?saved=display")

	long := url.Values{"op": {"save"}, "name": {"Work"}, "text": {strings.Repeat("x", 5000)}}
	for _, tc := range []struct {
		c    *client
		want string
	}{{zh, "签名最多 "}, {en, "A signature may have at most "}} {
		code, _, body := tc.c.post("/mail/signatures", maps.Clone(long))
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, tc.want) || strings.Contains(body, "%!") {
			t.Errorf("overlong signature: %d, want 422 with %q\n%s", code, tc.want, body)
		}
	}
	code, _, body := zh.post("/mail/scheduled", url.Values{"op": {"cancel"}, "id": {"999"}})
	if code != http.StatusNotFound || !strings.Contains(body, "没有这封定时邮件") {
		t.Errorf("cancel unknown: %d\n%s", code, body)
	}
	code, loc, body := zh.post("/mail/signatures", url.Values{"op": {"save"}, "name": {"Work"}, "text": {"Ann"}})
	if code != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", code, body)
	}
	if _, _, page := zh.get(loc); !strings.Contains(page, "签名已保存。") {
		t.Errorf("saved notice not in Chinese:\n%s", page)
	}
}
