package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/contacts"
	contactssqlite "mailgrid/internal/contacts/sqlite"
	"mailgrid/internal/directory"
	dirsqlite "mailgrid/internal/directory/sqlite"
	"mailgrid/internal/fetch"
	fetchsqlite "mailgrid/internal/fetch/sqlite"
	"mailgrid/internal/filter"
	filtersqlite "mailgrid/internal/filter/sqlite"
	"mailgrid/internal/obs"
	"mailgrid/internal/schedule"
	schedulesqlite "mailgrid/internal/schedule/sqlite"
	"mailgrid/internal/store"
)

// scheduleLead is how far ahead the deleted account's scheduled send is due: the
// deletion (one CLI run) must end before it for the test to say anything; generous, as
// the suite runs on loaded machines (a CLI run takes well under a second when idle).
const scheduleLead = 20 * time.Second

// TestDeleteAccountLeavesNothing: a user with a web session and state in every store —
// Sieve script (the Settings page's), preferences, a contact and a place among the group
// book's editors, a scheduled send, an external POP3 account, an SMS rule — is deleted
// with `mailgrid user del` while the server runs. At once every store is empty for it and
// its session cookie is refused; its scheduled send never goes out (a send of another
// account due at the same moment does); the address created again inherits nothing and
// its webmail shows none of the old contacts.
func TestDeleteAccountLeavesNothing(t *testing.T) {
	n := NewNode(t, "p", NodeOptions{})
	n.Start()
	ctx := t.Context()
	const pw = "gone-password-1"
	n.AddUser("gone@purge.test", pw)
	n.AddUser("kept@purge.test", "kept-password-1")
	n.AddUser("witness@purge.test", "witness-password-1")
	gone, kept := n.userInfo("gone@purge.test"), n.userInfo("kept@purge.test")
	st := openStores(t, filepath.Join(n.Dir, "data"))

	web := newWebUser(t, n)
	web.login("gone@purge.test", pw)
	if code := web.get("/api/v1/me"); code != http.StatusOK {
		t.Fatalf("the user's session before the deletion: %d", code)
	}
	oldCookies := web.jar.Cookies(web.base)

	st.seed(t, gone)
	must(t, st.contacts.SetEditors(ctx, "purge.test", []int64{gone.ID, kept.ID}))
	due := time.Now().Add(scheduleLead)
	st.schedule(t, gone, "witness@purge.test", "from the deleted account", due)

	n.CLI("", "user", "del", "gone@purge.test")
	if time.Now().After(due.Add(-time.Second)) {
		t.Fatalf("deleting the account took past its scheduled send (%v): the machine is too slow for this test", scheduleLead)
	}
	if got := st.count(t, gone); got != (stateCount{}) {
		t.Errorf("the deleted account's state: %+v, want none", got)
	}
	if ids, err := st.contacts.Editors(ctx, "purge.test"); err != nil || len(ids) != 1 || ids[0] != kept.ID {
		t.Errorf("group book editors: %v, %v; want only kept", ids, err)
	}
	if code := web.get("/api/v1/me"); code != http.StatusUnauthorized {
		t.Errorf("the deleted user's session: %d, want 401", code)
	}
	if code := web.get("/mail/"); code == http.StatusOK {
		t.Errorf("the deleted user's webmail: %d, want a refusal", code)
	}

	// A send of another account due at the same moment goes out; the deleted one's,
	// earlier in the same lease order, does not.
	st.schedule(t, kept, "kept@purge.test", "control", due)
	deadline := time.Now().Add(scheduleLead + time.Minute)
	for n.userInfo("kept@purge.test").UsedMessages == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the control scheduled send never arrived:\n%s", n.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if w := n.userInfo("witness@purge.test"); w.UsedMessages != 0 {
		t.Fatalf("the deleted account's scheduled send went out: witness has %d messages", w.UsedMessages)
	}

	// The address again: a new account that inherits nothing.
	n.AddUser("gone@purge.test", "new-password-1")
	again := n.userInfo("gone@purge.test")
	if again.ID == gone.ID {
		t.Fatalf("the re-created account has the old ID %d", gone.ID)
	}
	if got := st.count(t, again); got != (stateCount{}) {
		t.Errorf("the re-created account inherits %+v", got)
	}
	stale := newWebUser(t, n)
	stale.jar.SetCookies(stale.base, oldCookies)
	if code := stale.get("/api/v1/me"); code != http.StatusUnauthorized {
		t.Errorf("the old session cookie for the re-created address: %d, want 401", code)
	}
	fresh := newWebUser(t, n)
	fresh.login("gone@purge.test", "new-password-1")
	if code, page := fresh.page("/mail/contacts"); code != http.StatusOK || strings.Contains(page, "Friend Of Gone") {
		t.Errorf("the re-created account's contacts page: %d, old contact shown: %v", code, strings.Contains(page, "Friend Of Gone"))
	}
}

// userView is the part of `user show --json` the test reads.
type userView struct {
	ID           int64  `json:"id"`
	Address      string `json:"address"`
	UsedMessages int64  `json:"used_messages"`
}

func (n *Node) userInfo(addr string) userView {
	n.t.Helper()
	var us []userView
	n.JSON(&us, "user", "show", addr)
	if len(us) != 1 {
		n.t.Fatalf("user show %s: %+v", addr, us)
	}
	return us[0]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// webUser is a browser: a cookie jar on the node's HTTP listener, redirects not followed.
type webUser struct {
	t    *testing.T
	n    *Node
	jar  *cookiejar.Jar
	c    *http.Client
	base *url.URL
	csrf string
}

func newWebUser(t *testing.T, n *Node) *webUser {
	jar, err := cookiejar.New(nil)
	must(t, err)
	u, err := url.Parse("http://" + n.HTTP + "/")
	must(t, err)
	return &webUser{t: t, n: n, jar: jar, base: u, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (w *webUser) login(addr, pw string) {
	w.t.Helper()
	b, err := json.Marshal(map[string]string{"login": addr, "password": pw})
	must(w.t, err)
	resp, err := w.c.Post("http://"+w.n.HTTP+"/api/v1/login", "application/json", bytes.NewReader(b))
	must(w.t, err)
	defer resp.Body.Close()
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		w.t.Fatalf("login %s: %d %v", addr, resp.StatusCode, err)
	}
	w.csrf = out.CSRF
}

func (w *webUser) get(path string) int {
	w.t.Helper()
	code, _ := w.page(path)
	return code
}

func (w *webUser) page(path string) (int, string) {
	w.t.Helper()
	resp, err := w.c.Get("http://" + w.n.HTTP + path)
	must(w.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(w.t, err)
	return resp.StatusCode, string(b)
}

// stores are the node's SQLite stores, opened beside the running server (as the CLI
// opens them).
type stores struct {
	filter   *filtersqlite.DB
	contacts *contactssqlite.DB
	sched    *schedulesqlite.DB
	fetch    *fetchsqlite.DB
	dir      *dirsqlite.Directory
}

func openStores(t *testing.T, data string) *stores {
	t.Helper()
	ctx := t.Context()
	var s stores
	var err error
	s.filter, err = filtersqlite.Open(ctx, filtersqlite.Options{Dir: filepath.Join(data, "filter"), Logger: obs.Discard()})
	must(t, err)
	t.Cleanup(func() { must(t, s.filter.Close()) })
	s.contacts, err = contactssqlite.Open(ctx, contactssqlite.Options{Dir: filepath.Join(data, "contacts")})
	must(t, err)
	t.Cleanup(func() { must(t, s.contacts.Close()) })
	s.sched, err = schedulesqlite.Open(ctx, schedulesqlite.Options{Dir: filepath.Join(data, "schedule")})
	must(t, err)
	t.Cleanup(func() { must(t, s.sched.Close()) })
	s.fetch, err = fetchsqlite.Open(ctx, fetchsqlite.Options{Dir: filepath.Join(data, "fetch")})
	must(t, err)
	t.Cleanup(func() { must(t, s.fetch.Close()) })
	s.dir, err = dirsqlite.Open(ctx, filepath.Join(data, "directory.db"))
	must(t, err)
	t.Cleanup(func() { must(t, s.dir.Close()) })
	return &s
}

// stateCount is how much an account has in each store.
type stateCount struct {
	Scripts, Docs, Contacts, Scheduled, Fetch, SMSRule int
}

func ref(u userView) store.AccountRef { return store.AccountRef{Domain: "purge.test", ID: u.ID} }

// seed gives u a Settings script (made active), preferences, a contact, an external
// POP3 account and an SMS rule.
func (s *stores) seed(t *testing.T, u userView) {
	t.Helper()
	ctx := t.Context()
	must(t, s.filter.PutScript(ctx, ref(u), "mailgrid-webmail", "require \"fileinto\";\nif header :contains \"subject\" \"x\" { discard; }\n"))
	must(t, s.filter.SetActive(ctx, ref(u), "mailgrid-webmail"))
	must(t, s.filter.PutDoc(ctx, ref(u), "prefs", []byte(`{"page_size":50}`)))
	_, err := s.contacts.Add(ctx, contacts.Book{Domain: "purge.test", Account: u.ID},
		contacts.Contact{Name: "Friend Of Gone", Emails: []string{"friend@remote.example"}})
	must(t, err)
	_, err = s.fetch.Add(ctx, fetch.Account{Owner: ref(u), Host: "pop.remote.example", User: "gone", Secret: []byte("sealed")})
	must(t, err)
	must(t, s.dir.SetSMSRule(ctx, directory.SMSRule{AccountID: u.ID, Domain: "purge.test", Phone: "+15550100", Enabled: true}))
}

// schedule adds u's scheduled send to rcpt, due at due.
func (s *stores) schedule(t *testing.T, u userView, rcpt, subject string, due time.Time) {
	t.Helper()
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d.%d@purge.test>\r\n\r\nlater\r\n",
		u.Address, rcpt, subject, time.Now().Format(time.RFC1123Z), u.ID, time.Now().UnixNano())
	_, err := s.sched.Add(t.Context(), schedule.Item{Owner: schedule.Owner{Domain: "purge.test", Account: u.ID}, Due: due,
		From: u.Address, Rcpts: []string{rcpt}, Subject: subject, To: rcpt, Client: "[127.0.0.1]", Proto: "HTTP",
		Message: []byte(msg), Created: time.Now()})
	must(t, err)
}

// count is what u (by ID) has in each store.
func (s *stores) count(t *testing.T, u userView) stateCount {
	t.Helper()
	ctx := t.Context()
	var n stateCount
	scripts, err := s.filter.Scripts(ctx, ref(u))
	must(t, err)
	n.Scripts = len(scripts)
	if _, err := s.filter.Doc(ctx, ref(u), "prefs"); err == nil {
		n.Docs = 1
	} else if !errors.Is(err, filter.ErrNotFound) {
		t.Fatal(err)
	}
	cs, err := s.contacts.List(ctx, contacts.Book{Domain: "purge.test", Account: u.ID}, contacts.Query{})
	must(t, err)
	n.Contacts = len(cs)
	items, err := s.sched.List(ctx, schedule.Owner{Domain: "purge.test", Account: u.ID})
	must(t, err)
	n.Scheduled = len(items)
	fs, err := s.fetch.List(ctx, ref(u))
	must(t, err)
	n.Fetch = len(fs)
	if _, err := s.dir.SMSRule(ctx, u.ID); err == nil {
		n.SMSRule = 1
	} else if !errors.Is(err, directory.ErrNotFound) {
		t.Fatal(err)
	}
	return n
}
