package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/fetch"
	fetchsqlite "mailgrid/internal/fetch/sqlite"
	"mailgrid/internal/pop3server"
	"mailgrid/internal/testkit/linetest"
	"mailgrid/internal/web"
)

// fetchHarness is the webmail with external accounts, and a POP3 server (ours, on
// loopback, logins without TLS allowed) serving the same directory as the remote.
func fetchHarness(t *testing.T) (*harness, string) {
	t.Helper()
	return fetchHarnessGuard(t, true)
}

// fetchHarnessGuard is fetchHarness with the address guard on unless allowPrivate.
func fetchHarnessGuard(t *testing.T, allowPrivate bool) (*harness, string) {
	t.Helper()
	db, err := fetchsqlite.Open(t.Context(), fetchsqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	var popAddr string
	h := mailHarness(t, func(o *web.MailOptions, e *deliverytest.Env) {
		srv, err := pop3server.New(pop3server.Options{Hostname: "pop.test", Directory: e.Dir, Shards: e.Shards, AllowInsecureAuth: true})
		if err != nil {
			t.Fatal(err)
		}
		popAddr = linetest.Serve(t, srv)
		f, err := fetch.New(fetch.Options{Store: db, Deliver: fetch.StoreDeliverer{Dir: e.Dir, Shards: e.Shards}, Node: "web-test", AllowPrivate: allowPrivate, Timeout: linetest.Deadline})
		if err != nil {
			t.Fatal(err)
		}
		o.Fetch = f
	})
	return h, popAddr
}

func TestMailFetch(t *testing.T) {
	h, popAddr := fetchHarness(t)
	h.deliver("u2@a.example", "From: x@remote.example\r\nSubject: waiting on the remote\r\n\r\nhello\r\n")
	host, port, _ := strings.Cut(popAddr, ":")
	c := h.loggedIn("u1@a.example")
	form := url.Values{"op": {"save"}, "host": {host}, "port": {port}, "tls": {"none"}, "user": {"u2@a.example"},
		"password": {pw}, "folder": {"Archive"}, "mode": {"keep"}, "interval": {"15"}}

	// Bad input changes nothing: no TLS to a host that is not loopback.
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("host", "pop.example.com")
	if st, _, body := c.post("/mail/fetch", bad); st != http.StatusBadRequest || !strings.Contains(body, "loopback") {
		t.Fatalf("no TLS off loopback: %d %s", st, body)
	}
	if st, loc, body := c.post("/mail/fetch", form); st != http.StatusSeeOther || loc != "/mail/fetch?saved=saved" {
		t.Fatalf("save: %d %s %s", st, loc, body)
	}
	st, _, page := c.get("/mail/fetch")
	if st != 200 || !strings.Contains(page, "u2@a.example") || strings.Contains(page, pw) || strings.Count(page, "data-fetch-id=") != 1 {
		t.Fatalf("list: %d %s", st, page)
	}
	i := strings.Index(page, `data-fetch-id="`)
	id, err := strconv.ParseInt(page[i+15:i+15+strings.IndexByte(page[i+15:], '"')], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	ids := strconv.FormatInt(id, 10)

	// Test with the stored password (the field left blank).
	test := url.Values{"op": {"test"}, "id": {ids}, "host": {host}, "port": {port}, "tls": {"none"}, "user": {"u2@a.example"}, "folder": {"Archive"}, "interval": {"15"}}
	if st, _, body := c.post("/mail/fetch", test); st != 200 || !strings.Contains(body, "Test passed") || !strings.Contains(body, "1 message(s) waiting") {
		t.Fatalf("test: %d %s", st, body)
	}
	wrong := url.Values{}
	for k, v := range test {
		wrong[k] = v
	}
	wrong.Set("password", "not-the-password")
	if st, _, body := c.post("/mail/fetch", wrong); st != http.StatusBadGateway || !strings.Contains(body, "refused PASS") || strings.Contains(body, "not-the-password") {
		t.Fatalf("test with a wrong password: %d %s", st, body)
	}

	// Fetch now: the message lands in Archive; a second run fetches nothing new.
	for n, want := range []string{"Fetched 1 new message(s)", "Fetched 0 new message(s)"} {
		if st, _, body := c.post("/mail/fetch", url.Values{"op": {"fetch"}, "id": {ids}}); st != 200 || !strings.Contains(body, want) {
			t.Fatalf("fetch now %d: %d %s", n, st, body)
		}
	}
	if got := h.msgs("u1@a.example", h.box("u1@a.example", "Archive")); len(got) != 1 {
		t.Fatalf("Archive holds %d", len(got))
	}
	if _, _, page := c.get("/mail/fetch"); !strings.Contains(page, "0 new") {
		t.Fatalf("the last run is not shown: %s", page)
	}

	// Another account, and a forged form, change nothing.
	other := h.loggedIn("u1@b.example")
	if st, _, _ := other.post("/mail/fetch", url.Values{"op": {"delete"}, "id": {ids}}); st != http.StatusNotFound {
		t.Fatalf("another domain deletes: %d", st)
	}
	if st, _, _ := other.post("/mail/fetch", url.Values{"op": {"fetch"}, "id": {ids}}); st != http.StatusNotFound {
		t.Fatalf("another domain fetches: %d", st)
	}
	if st, _, _ := c.post("/mail/fetch", url.Values{"csrf_token": {"forged"}, "op": {"delete"}, "id": {ids}}); st != http.StatusForbidden {
		t.Fatalf("forged CSRF: %d", st)
	}
	if st, loc, _ := c.post("/mail/fetch", url.Values{"op": {"delete"}, "id": {ids}}); st != http.StatusSeeOther || loc != "/mail/fetch?saved=deleted" {
		t.Fatalf("delete: %d %s", st, loc)
	}
	if _, _, page := c.get("/mail/fetch"); !strings.Contains(page, "No external accounts") {
		t.Fatal("deleted account still listed")
	}
}

// TestMailFetchRemoteDown: Fetch now against a closed port shows the error, and the
// account's row keeps it for the schedule's next try.
func TestMailFetchRemoteDown(t *testing.T) {
	h, _ := fetchHarness(t)
	c := h.loggedIn("u1@a.example")
	form := url.Values{"op": {"save"}, "host": {"127.0.0.1"}, "port": {"9"}, "tls": {"none"}, "user": {"u2@a.example"},
		"password": {pw}, "folder": {"INBOX"}, "mode": {"delete"}, "interval": {"5"}}
	if st, _, body := c.post("/mail/fetch", form); st != http.StatusSeeOther {
		t.Fatalf("save: %d %s", st, body)
	}
	_, _, page := c.get("/mail/fetch")
	i := strings.Index(page, `data-fetch-id="`)
	id := page[i+15 : i+15+strings.IndexByte(page[i+15:], '"')]
	if st, _, body := c.post("/mail/fetch", url.Values{"op": {"fetch"}, "id": {id}}); st != http.StatusBadGateway || !strings.Contains(body, "cannot connect") {
		t.Fatalf("fetch from a closed port: %d %s", st, body)
	}
	if _, _, page := c.get("/mail/fetch"); !strings.Contains(page, `class="f-error"`) || !strings.Contains(page, "cannot connect") {
		t.Fatalf("the error is not shown on the list: %s", page)
	}
}

// TestMailFetchGuard: without fetch.allow_private, Test and Fetch now of an account on
// loopback are refused with the reason (400), nothing is fetched, and the list shows it.
func TestMailFetchGuard(t *testing.T) {
	h, popAddr := fetchHarnessGuard(t, false)
	h.deliver("u2@a.example", "From: x@remote.example\r\nSubject: waiting on the remote\r\n\r\nhello\r\n")
	host, port, _ := strings.Cut(popAddr, ":")
	c := h.loggedIn("u1@a.example")
	form := url.Values{"op": {"save"}, "host": {host}, "port": {port}, "tls": {"none"}, "user": {"u2@a.example"},
		"password": {pw}, "folder": {"INBOX"}, "mode": {"keep"}, "interval": {"15"}}
	test := url.Values{}
	for k, v := range form {
		test[k] = v
	}
	test.Set("op", "test")
	if st, _, body := c.post("/mail/fetch", test); st != http.StatusBadRequest || !strings.Contains(body, "refused: 127.0.0.1 is a loopback") {
		t.Fatalf("test to loopback: %d %s", st, body)
	}
	if st, _, body := c.post("/mail/fetch", form); st != http.StatusSeeOther {
		t.Fatalf("save: %d %s", st, body)
	}
	_, _, page := c.get("/mail/fetch")
	i := strings.Index(page, `data-fetch-id="`)
	id := page[i+15 : i+15+strings.IndexByte(page[i+15:], '"')]
	if st, _, body := c.post("/mail/fetch", url.Values{"op": {"fetch"}, "id": {id}}); st != http.StatusBadRequest || !strings.Contains(body, "only from public addresses") {
		t.Fatalf("fetch now from loopback: %d %s", st, body)
	}
	if _, _, page := c.get("/mail/fetch"); !strings.Contains(page, `class="f-error"`) || !strings.Contains(page, "refused") {
		t.Fatalf("the refusal is not shown on the list: %s", page)
	}
	if got := h.msgs("u1@a.example", h.box("u1@a.example", "INBOX")); len(got) != 0 {
		t.Fatalf("INBOX holds %d", len(got))
	}
}
