package web_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"mailgrid/internal/mail"
)

// The console's CSV upload (multipart, as a browser without JavaScript sends it) needs
// the CSRF field, imports the file, and the export link gives it back; the broadcast
// form reaches the domain's users.
func TestConsoleImportExportBroadcast(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	da := h.loggedIn("da@a.example")
	upload := func(token, csv string) (int, string) {
		t.Helper()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		if token != "" {
			if err := mw.WriteField("csrf_token", token); err != nil {
				t.Fatal(err)
			}
		}
		fw, err := mw.CreateFormFile("file", "users.csv")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write([]byte(csv)); err != nil {
			t.Fatal(err)
		}
		if err := mw.Close(); err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest("POST", h.base+"/console/domains/a.example/import", &body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := da.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readAll(t, resp)
	}
	const file = "address,password,quota\nimp1@a.example,imp password 1,5M\nimp2@a.example,imp password 2,\n"
	if st, _ := upload("", file); st != http.StatusForbidden {
		t.Errorf("upload without CSRF token: %d", st)
	}
	if st, page := upload(da.csrf, "address,password\nimp1@a.example,\n"); st != http.StatusBadRequest || !strings.Contains(page, "line 2") {
		t.Errorf("bad upload: %d\n%s", st, page)
	}
	if _, err := h.env.Dir.Account(ctx, mail.MustParse("imp1@a.example")); err == nil {
		t.Fatal("a refused upload created an account")
	}
	if st, page := upload(da.csrf, file); st != http.StatusOK || !strings.Contains(page, "Imported 2 accounts.") {
		t.Fatalf("upload: %d\n%s", st, page)
	}
	if a, err := h.env.Dir.Account(ctx, mail.MustParse("imp1@a.example")); err != nil || a.QuotaBytes != 5<<20 {
		t.Errorf("imported: %+v %v", a, err)
	}
	resp := da.raw("GET", "/console/domains/a.example/accounts.csv", nil)
	if csv := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(csv, "imp2@a.example,user,true,") {
		t.Errorf("export: %d\n%s", resp.StatusCode, csv)
	}
	resp = da.form("/console/domains/a.example/broadcast", map[string][]string{"csrf_token": {da.csrf},
		"subject": {"Hello all"}, "body": {"From your admin."}})
	if page := readAll(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Broadcast sent to") {
		t.Errorf("broadcast: %d\n%s", resp.StatusCode, page)
	}
	if got := h.env.Messages(t, h.acct["u2@a.example"], ""); len(got) != 1 || !strings.Contains(string(got[0].Body), "Hello all") {
		t.Errorf("u2@a.example: %d messages", len(got))
	}
}
