package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/dns"
	"mailgrid/internal/mail"
	"mailgrid/internal/web"
)

// The tests run the real front-end on a loopback listener (Server.Serve) over the real
// SQLite directory and store (deliverytest), with net/http clients that keep cookies
// like a browser.

const pw = "correct horse battery"

// harness is one installation: a sysadmin (root@sys.example), domains a.example and
// b.example, each with a domain admin (da@), two users (u1@, u2@) and an alias (info@ ->
// u1@).
type harness struct {
	t    *testing.T
	env  *deliverytest.Env
	svc  *admin.Service
	srv  *web.Server
	base string
	acct map[string]directory.Account // by address
}

func newHarness(t *testing.T, tune func(*web.Options)) *harness {
	t.Helper()
	e := deliverytest.New(t, deliverytest.Options{})
	h := &harness{t: t, env: e, acct: map[string]directory.Account{}}
	ctx := context.Background()
	for _, d := range []string{"sys.example", "a.example", "b.example"} {
		e.Domain(t, d, 0, 0)
	}
	h.add(ctx, "root@sys.example", directory.RoleSystemAdmin)
	for _, d := range []string{"a.example", "b.example"} {
		h.add(ctx, "da@"+d, directory.RoleDomainAdmin)
		h.add(ctx, "u1@"+d, directory.RoleUser)
		h.add(ctx, "u2@"+d, directory.RoleUser)
		e.Alias(t, "info@"+d, "u1@"+d)
	}
	h.svc = &admin.Service{Dir: e.Dir, Shards: e.Shards}
	opt := web.Options{Admin: h.svc, AssetsDir: "../../web/node_modules",
		Hostname: "mx.test", LoginPerIP: web.Limit{Burst: 1000, Every: time.Millisecond},
		Filters: &admin.FilterAdmin{
			Policy:     &admin.FilterPolicy{Dir: e.Dir, Lists: e.Filter, Rules: e.Filter, Switches: e.Filter},
			Quarantine: e.Filter, Release: e.Pipeline.Release,
		},
		// A resolver on a closed loopback port: every check answers "error", quickly.
		DNS: admin.DNSSource{Resolver: dns.New([]string{"127.0.0.1:9"}, 2*time.Second)}}
	if tune != nil {
		tune(&opt)
	}
	srv, err := web.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.base = serve(t, srv)
	return h
}

// serve runs srv on a loopback listener until the test ends, then shuts it down and
// checks Serve returned nil.
func serve(t *testing.T, srv *web.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + l.Addr().String()
}

func (h *harness) add(ctx context.Context, addr string, role directory.Role) {
	a, err := h.env.Dir.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse(addr), Password: pw, Role: role})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.env.Store.EnsureAccount(ctx, deliverytest.Ref(a)); err != nil {
		h.t.Fatal(err)
	}
	h.acct[addr] = a
}

// client is one browser (cookie jar) or one API program (bearer token).
type client struct {
	h      *harness
	hc     *http.Client
	csrf   string
	bearer string
	header http.Header // extra headers on every request
}

func (h *harness) client() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return &client{h: h, header: http.Header{}, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// loggedIn returns a client signed in as addr.
func (h *harness) loggedIn(addr string) *client {
	h.t.Helper()
	c := h.client()
	if st, body := c.login(addr, pw, ""); st != http.StatusOK {
		h.t.Fatalf("login %s: %d %s", addr, st, body)
	}
	return c
}

func (c *client) login(login, password, totp string) (int, []byte) {
	c.h.t.Helper()
	st, body := c.do("POST", "/api/v1/login", map[string]string{"login": login, "password": password, "totp": totp})
	if st == http.StatusOK {
		var me struct {
			CSRFToken string `json:"csrf_token"`
		}
		if err := json.Unmarshal(body, &me); err != nil || me.CSRFToken == "" {
			c.h.t.Fatalf("login answer %s: %v", body, err)
		}
		c.csrf = me.CSRFToken
	}
	return st, body
}

// do sends a JSON request (body nil: none) and returns the status and body. It adds the
// CSRF token (a signed-in browser's script would) unless the test removed it.
func (c *client) do(method, path string, body any) (int, []byte) {
	c.h.t.Helper()
	resp := c.raw(method, path, body)
	defer closeBody(c.h.t, resp)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.h.t.Fatal(err)
	}
	return resp.StatusCode, b
}

func (c *client) raw(method, path string, body any) *http.Response {
	c.h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.h.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.h.base+path, rd)
	if err != nil {
		c.h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.h.t.Fatal(err)
	}
	return resp
}

// form posts an HTML form.
func (c *client) form(path string, v url.Values) *http.Response {
	c.h.t.Helper()
	req, err := http.NewRequest("POST", c.h.base+path, strings.NewReader(v.Encode()))
	if err != nil {
		c.h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vv := range c.header {
		req.Header[k] = vv
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.h.t.Fatal(err)
	}
	return resp
}

func closeBody(t *testing.T, resp *http.Response) {
	if _, err := io.Copy(io.Discard, resp.Body); err != nil && !errors.Is(err, http.ErrBodyReadAfterClose) {
		t.Logf("drain: %v", err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Errorf("close body: %v", err)
	}
}

// sessionCookie is the client's session cookie value ("" when none).
func (c *client) sessionCookie() string {
	u, err := url.Parse(c.h.base)
	if err != nil {
		c.h.t.Fatal(err)
	}
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == "mg_session" {
			return ck.Value
		}
	}
	return ""
}

// errorCode checks body is a JSON API error and returns its code.
func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("not a JSON API error: %q (%v)", body, err)
	}
	return e.Error.Code
}

func decodeJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}

// requireTool: a prerequisite missing under CI is a failure, elsewhere a skip.
func requireFile(t *testing.T, path, what string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing (%v)", what, err)
		}
		t.Skipf("%s missing (%v)", what, err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
