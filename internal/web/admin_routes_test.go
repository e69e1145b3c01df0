package web_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// CSV import (text/csv and JSON) and export, and broadcast, through the API with a
// domain admin's bearer token; a bad file is refused whole with its line.
func TestAPIImportExportBroadcast(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	da := h.loggedIn("da@a.example")
	c := h.client()
	c.bearer = newToken(t, da, "provisioning", "admin:read", "admin:write")

	post := func(path, ctype, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("POST", h.base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+c.bearer)
		resp, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readAll(t, resp)
	}
	st, body := post("/api/v1/domains/a.example/accounts.csv", "text/csv",
		"address,password\nok@a.example,ok password 1\nbad@b.example,bad password 1\n")
	if st != http.StatusBadRequest || !strings.Contains(body, "line 3") || errorCode(t, []byte(body)) != "invalid" {
		t.Errorf("bad file: %d %s", st, body)
	}
	if _, err := h.env.Dir.Account(ctx, mail.MustParse("ok@a.example")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a refused file created an account: %v", err)
	}
	st, body = post("/api/v1/domains/a.example/accounts.csv", "text/csv; charset=utf-8",
		"address,password,quota\nok@a.example,ok password 1,10M\nfine@a.example,fine password 1,\n")
	if st != http.StatusCreated || !strings.Contains(body, `"created":2`) {
		t.Fatalf("import: %d %s", st, body)
	}
	if _, err := h.env.Dir.Authenticate(ctx, "fine@a.example", "fine password 1"); err != nil {
		t.Errorf("imported account: %v", err)
	}
	st, _ = c.do("POST", "/api/v1/domains/a.example/accounts.csv", map[string]string{"csv": "address,password\njs@a.example,js password 1\n"})
	if st != http.StatusCreated {
		t.Errorf("JSON import: %d", st)
	}

	resp := c.raw("GET", "/api/v1/domains/a.example/accounts.csv", nil)
	b, err := io.ReadAll(resp.Body)
	closeBody(t, resp)
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(string(b), "ok@a.example,user,true,10485760,") || strings.Contains(string(b), "b.example") {
		t.Errorf("export: %d %q %s %v", resp.StatusCode, resp.Header.Get("Content-Type"), b, err)
	}

	st, body = func() (int, string) {
		s, b := c.do("POST", "/api/v1/domains/a.example/broadcast", map[string]string{"subject": "Maintenance", "body": "Tonight."})
		return s, string(b)
	}()
	if st != http.StatusOK || !strings.Contains(body, `"failed":[]`) {
		t.Fatalf("broadcast: %d %s", st, body)
	}
	if got := h.env.Messages(t, h.acct["u1@a.example"], ""); len(got) != 1 || !strings.Contains(string(got[0].Body), "Subject: Maintenance") {
		t.Errorf("u1@a.example's INBOX: %d messages", len(got))
	}
	if got := h.env.Messages(t, h.acct["u1@b.example"], ""); len(got) != 0 {
		t.Errorf("u1@b.example got the broadcast")
	}
}
