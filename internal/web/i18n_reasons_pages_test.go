package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/sms"
	"mailgrid/internal/web"
)

// zhUser is a logged-in client of addr whose browser asks for zh-CN (no language chosen
// in Preferences: these harnesses have no preference store).
func zhUser(t *testing.T, h *harness, addr string) *client {
	t.Helper()
	c := h.loggedIn(addr)
	c.header = http.Header{"Accept-Language": {"zh-CN,zh;q=0.9,en;q=0.5"}}
	return c
}

// wantPage fails unless the response has status st and contains every want.
func wantPage(t *testing.T, what string, st, wantSt int, body string, want ...string) {
	t.Helper()
	if st != wantSt {
		t.Errorf("%s: status %d, want %d\n%s", what, st, wantSt, body)
		return
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s: no %q in\n%s", what, w, body)
		}
	}
}

// TestMailFetchReasonsInChinese: the external-accounts page shows the fetcher's reasons
// to a zh-CN user in Chinese: a setting fetch.Validate refuses, the form's own checks,
// the address guard's refusal (SSRF), and the remote server's refusal (with the server's
// own text); an English user still reads English.
func TestMailFetchReasonsInChinese(t *testing.T) {
	h, popAddr := fetchHarnessGuard(t, false)
	host, port, _ := strings.Cut(popAddr, ":")
	zh, en := zhUser(t, h, "u1@a.example"), h.loggedIn("u2@a.example")
	form := func(host, port, tls string) url.Values {
		return url.Values{"op": {"test"}, "host": {host}, "port": {port}, "tls": {tls}, "user": {"u2@a.example"},
			"password": {pw}, "folder": {"INBOX"}, "mode": {"keep"}, "interval": {"15"}}
	}
	st, _, body := zh.post("/mail/fetch", form("pop.remote.example", "110", "none"))
	wantPage(t, "no TLS off loopback", st, http.StatusBadRequest, body, "外部帐户设置无效：不使用 TLS 时只能连接本机回环地址")
	st, _, body = en.post("/mail/fetch", form("pop.remote.example", "110", "none"))
	wantPage(t, "no TLS off loopback, English", st, http.StatusBadRequest, body, "invalid account: without TLS only a loopback address")
	st, _, body = zh.post("/mail/fetch", form("pop.remote.example", "x", "starttls"))
	wantPage(t, "port not a number", st, http.StatusBadRequest, body, "端口不是数字")
	st, _, body = zh.post("/mail/fetch", form("bad host!", "110", "starttls"))
	wantPage(t, "bad host", st, http.StatusBadRequest, body, "不是有效的主机名：")
	st, _, body = zh.post("/mail/fetch", form(host, port, "none"))
	wantPage(t, "guard", st, http.StatusBadRequest, body, "已拒绝：127.0.0.1 是回环、私有、链路本地或未指定地址；本服务器只从公网地址收取邮件")

	// The remote refuses the login: its words stay, ours are Chinese.
	h2, popAddr2 := fetchHarness(t)
	host2, port2, _ := strings.Cut(popAddr2, ":")
	zh2 := zhUser(t, h2, "u1@a.example")
	wrong := form(host2, port2, "none")
	wrong.Set("password", "not-the-password")
	st, _, body = zh2.post("/mail/fetch", wrong)
	wantPage(t, "remote refusal", st, http.StatusBadGateway, body, "远程服务器：测试失败：POP3 服务器拒绝了 PASS：")
}

// TestMailSMSReasonsInChinese: the SMS page shows the SMS service's refusals to a zh-CN
// user in Chinese: not in the domain's plan, switched off for the account, not
// configured on the server, a bad number, an empty text, an unknown recipient.
func TestMailSMSReasonsInChinese(t *testing.T) {
	h, g := smsHarness(t)
	nop := zhUser(t, h, "u1@b.example") // b.example's plan has no SMS
	_, _, body := nop.get("/mail/sms")
	wantPage(t, "page, not in plan", http.StatusOK, http.StatusOK, body, `id="sms-not-in-plan"`, "您的域的服务套餐不包含短信；请联系管理员")
	st, _, body := nop.post("/mail/sms", url.Values{"op": {"send"}, "to": {"+15550100"}, "text": {"x"}})
	wantPage(t, "send, not in plan", st, http.StatusForbidden, body, "您的域的服务套餐不包含短信")

	off := []string{directory.ServiceSMS}
	if _, err := h.env.Dir.UpdateAccount(context.Background(), h.acct["u2@a.example"].Address, directory.AccountUpdate{DisabledServices: &off}); err != nil {
		t.Fatal(err)
	}
	switched := zhUser(t, h, "u2@a.example")
	_, _, body = switched.get("/mail/sms")
	wantPage(t, "page, switched off", http.StatusOK, http.StatusOK, body, "您的帐户或域已关闭短信；请联系管理员")

	c := zhUser(t, h, "u1@a.example")
	for _, tc := range []struct {
		what string
		v    url.Values
		want string
	}{
		{"bad phone", url.Values{"op": {"notify"}, "enabled": {"1"}, "phone": {"call me"}}, `电话号码 &#34;call me&#34;：请使用国际格式，例如 &#43;41 44 668 18 00`},
		{"empty text", url.Values{"op": {"send"}, "to": {"+15550100"}, "text": {"  "}}, "短信内容为空"},
		{"unknown recipient", url.Values{"op": {"send"}, "to": {"Nobody"}, "text": {"x"}}, "既不是电话号码（国际格式，例如 &#43;41 44 668 18 00），也不是有电话的联系人。"},
	} {
		st, _, body := c.post("/mail/sms", tc.v)
		wantPage(t, tc.what, st, http.StatusUnprocessableEntity, body, tc.want)
	}
	if n := len(g.sent()); n != 0 {
		t.Fatalf("refused sends reached the gateway: %d", n)
	}

	// A server without a gateway.
	h2 := mailHarness(t, func(o *web.MailOptions, e *deliverytest.Env) {
		var err error
		if o.SMS, err = sms.New(sms.Options{Directory: e.Dir}); err != nil {
			t.Fatal(err)
		}
	})
	_, _, body = zhUser(t, h2, "u1@a.example").get("/mail/sms")
	wantPage(t, "page, not configured", http.StatusOK, http.StatusOK, body, `id="sms-off"`, "本服务器未配置短信")
}

// TestMailCompleteGroupLabelInChinese: compose hands the address completion script its
// group label in the page's language.
func TestMailCompleteGroupLabelInChinese(t *testing.T) {
	h := mailHarness(t, nil)
	_, _, zh := zhUser(t, h, "u1@a.example").get("/mail/compose")
	_, _, en := h.loggedIn("u2@a.example").get("/mail/compose")
	if !strings.Contains(zh, `<script src="/mail/contacts.js" defer data-group-label="%s（群组，%d 人）">`) {
		t.Errorf("zh-CN compose: no Chinese group label\n%s", zh)
	}
	if !strings.Contains(en, `data-group-label="%s (group, %d)"`) {
		t.Errorf("English compose: no English group label")
	}
}
