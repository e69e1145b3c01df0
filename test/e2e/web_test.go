package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
)

// TestAPIOnTheBinary: the admin signs in to the JSON API of the running binary, creates a
// domain with a session and its CSRF token, and the CLI sees it; a write without the token
// is refused and changes nothing.
func TestAPIOnTheBinary(t *testing.T) {
	n := NewNode(t, "w", NodeOptions{})
	n.Start()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	base := "http://" + n.HTTP + "/api/v1"
	post := func(path, csrf string, body any) *http.Response {
		t.Helper()
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest("POST", base+path, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%v\n%s", err, n.Output())
		}
		return resp
	}
	resp := post("/login", "", map[string]string{"login": "admin@w.mailgrid.test", "password": n.AdminPass})
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&login); err != nil || resp.StatusCode != 200 || login.CSRF == "" {
		t.Fatalf("login: %d %v %+v", resp.StatusCode, err, login)
	}
	resp.Body.Close()

	resp = post("/domains", "", map[string]string{"name": "nocsrf.test"})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("write without CSRF token: %d, want 403", resp.StatusCode)
	}
	resp = post("/domains", login.CSRF, map[string]string{"name": "api.test"})
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("create domain: %d", resp.StatusCode)
	}
	out := n.CLI("", "domain", "list")
	if !strings.Contains(out, "api.test") || strings.Contains(out, "nocsrf.test") {
		t.Fatalf("CLI sees:\n%s", out)
	}
}
