package web_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/web"
)

// Security headers on pages, API answers and errors alike.
func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client()
	for _, path := range []string{"/login", "/api/v1/me", "/api/v1/nothing", "/static/console.css"} {
		resp := c.raw("GET", path, nil)
		closeBody(t, resp)
		hd := resp.Header
		csp := hd.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") ||
			strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin"} {
			if got := hd.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
		if hd.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain HTTP", path)
		}
	}
}

// The pages contain no inline script or style (the CSP would block them) and no
// on* event handler attributes.
func TestPagesHaveNoInlineScript(t *testing.T) {
	h := newHarness(t, nil)
	c := h.loggedIn("root@sys.example")
	for _, path := range []string{"/login?next=/console/", "/console/"} {
		resp := c.raw("GET", path, nil)
		b, err := io.ReadAll(resp.Body)
		closeBody(t, resp)
		if err != nil {
			t.Fatal(err)
		}
		page := string(b)
		if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(page) || strings.Contains(page, "<style") ||
			regexp.MustCompile(`\son[a-z]+=`).MatchString(page) || strings.Contains(page, "style=") {
			t.Errorf("%s has inline script or style:\n%s", path, page)
		}
	}
}

func TestOpenRedirect(t *testing.T) {
	h := newHarness(t, nil)
	for _, c := range []struct{ next, want string }{
		{"/console/", "/console/"},
		{"/console/?tab=users", "/console/?tab=users"},
		{"", "/"},
		{"https://evil.example/", "/"},
		{"//evil.example/x", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/%2F%2Fevil.example", "/"},
		{"/%5Cevil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"/\t/evil.example", "/"},
		{"http:/evil.example", "/"},
		{" //evil.example", "/"},
	} {
		cl := h.client()
		resp := cl.form("/login", url.Values{"login": {"u1@a.example"}, "password": {pw}, "next": {c.next}})
		closeBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != c.want {
			t.Errorf("next=%q: %d Location %q, want %q", c.next, resp.StatusCode, resp.Header.Get("Location"), c.want)
		}
	}
}

func TestConsoleLoginAndDomains(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client()
	resp := c.raw("GET", "/console/", nil)
	closeBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fconsole%2F" {
		t.Fatalf("console unauthenticated: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = c.form("/login", url.Values{"login": {"root@sys.example"}, "password": {"wrong"}, "next": {"/console/"}})
	page := readAll(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "wrong login or password") {
		t.Fatalf("bad login form: %d %s", resp.StatusCode, page)
	}
	resp = c.form("/login", url.Values{"login": {"root@sys.example"}, "password": {pw}, "next": {"/console/"}})
	closeBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("login form: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	page = readAll(t, c.raw("GET", "/console/", nil))
	token := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
	if !strings.Contains(page, "a.example") || !strings.Contains(page, "b.example") || token == nil {
		t.Fatalf("console page:\n%s", page)
	}
	// Without the token the form is refused; with it the domain is created and the
	// browser is sent to its page (POST/redirect/GET).
	resp = c.form("/console/domains", url.Values{"name": {"c.example"}})
	closeBody(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("form without CSRF token: %d", resp.StatusCode)
	}
	resp = c.form("/console/domains", url.Values{"name": {"c.example"}, "csrf_token": {token[1]}})
	closeBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/domains/c.example?done=domain-created" {
		t.Errorf("add domain: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := h.env.Dir.Domain(context.Background(), "c.example"); err != nil {
		t.Errorf("domain not created: %v", err)
	}
	// An invalid name shows the page again with the error and its status.
	resp = c.form("/console/domains", url.Values{"name": {"not a domain"}, "csrf_token": {token[1]}})
	if page := readAll(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `class="error"`) {
		t.Errorf("invalid domain: %d\n%s", resp.StatusCode, page)
	}
	// A domain admin's console lists only its domain and offers no domain creation.
	d := h.client()
	closeBody(t, d.form("/login", url.Values{"login": {"da@a.example"}, "password": {pw}}))
	page = readAll(t, d.raw("GET", "/console/", nil))
	if !strings.Contains(page, "a.example") || strings.Contains(page, "b.example") || strings.Contains(page, `action="/console/domains"`) {
		t.Errorf("domain admin console:\n%s", page)
	}
	// Logout through the form ends the session.
	tok := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
	closeBody(t, d.form("/logout", url.Values{"csrf_token": {tok[1]}}))
	resp = d.raw("GET", "/console/", nil)
	closeBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("console after logout: %d", resp.StatusCode)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	closeBody(t, resp)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// htmx comes from the npm install (web/node_modules), byte for byte, at the pinned
// version.
func TestHTMXFromNodeModules(t *testing.T) {
	const file = "../../web/node_modules/htmx.org/dist/htmx.min.js"
	requireFile(t, file, "htmx (run npm ci in web/)")
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := os.ReadFile("../../web/node_modules/htmx.org/package.json")
	if err != nil || !strings.Contains(string(pkg), `"version": "2.0.11"`) {
		t.Fatalf("installed htmx is not 2.0.11: %v", err)
	}
	h := newHarness(t, nil)
	resp := h.client().raw("GET", "/static/htmx.min.js", nil)
	got := readAll(t, resp)
	if resp.StatusCode != http.StatusOK || !bytes.Equal([]byte(got), want) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("htmx: %d %q, %d bytes (want %d)", resp.StatusCode, resp.Header.Get("Content-Type"), len(got), len(want))
	}
}

// Over TLS the cookie is "__Host-" prefixed and Secure, and HSTS is sent.
func TestTLSCookie(t *testing.T) {
	cert := selfSigned(t)
	h := newHarness(t, nil)
	srv, err := web.New(web.Options{Admin: h.svc, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(serve(t, srv), "http://", "https://", 1)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	resp, err := hc.Post(base+"/api/v1/login", "application/json", strings.NewReader(`{"login":"u1@a.example","password":"`+pw+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	closeBody(t, resp)
	ck := resp.Cookies()
	if resp.StatusCode != http.StatusOK || len(ck) != 1 || ck[0].Name != "__Host-mg_session" || !ck[0].Secure || !ck[0].HttpOnly ||
		ck[0].SameSite != http.SameSiteStrictMode || ck[0].Domain != "" || ck[0].Path != "/" {
		t.Fatalf("TLS login: %d %+v", resp.StatusCode, ck)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over TLS")
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
