package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// `domain sso-secret` generates a secret once, prints the same one again, rotates,
// sets and removes it, and refuses conflicting flags and unknown domains.
func TestDomainSSOSecret(t *testing.T) {
	dir := t.TempDir()
	run(t, dir, "", "domain", "add", "portal.test")
	s1 := strings.TrimSpace(run(t, dir, "", "domain", "sso-secret", "portal.test"))
	if len(s1) != 64 {
		t.Fatalf("generated secret %q", s1)
	}
	if s := strings.TrimSpace(run(t, dir, "", "domain", "sso-secret", "portal.test")); s != s1 {
		t.Fatalf("second read %q, want %q", s, s1)
	}
	var v ssoView
	if err := json.Unmarshal([]byte(run(t, dir, "", "--json", "domain", "sso-secret", "portal.test", "--rotate")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Domain != "portal.test" || len(v.Secret) != 64 || v.Secret == s1 {
		t.Fatalf("rotated: %+v", v)
	}
	own := strings.Repeat("p", 40)
	run(t, dir, "", "domain", "sso-secret", "portal.test", "--set", own)
	if s := strings.TrimSpace(run(t, dir, "", "domain", "sso-secret", "portal.test")); s != own {
		t.Fatalf("after --set: %q", s)
	}
	if err := runErr(dir, "domain", "sso-secret", "portal.test", "--set", "short"); err == nil {
		t.Fatal("short secret accepted")
	}
	if err := runErr(dir, "domain", "sso-secret", "portal.test", "--rotate", "--remove"); err == nil {
		t.Fatal("--rotate --remove accepted")
	}
	if err := runErr(dir, "domain", "sso-secret", "nowhere.test"); err == nil {
		t.Fatal("unknown domain accepted")
	}
	if out := run(t, dir, "", "domain", "sso-secret", "portal.test", "--remove"); !strings.Contains(out, "no SSO secret") {
		t.Fatalf("--remove: %q", out)
	}
	if out := run(t, dir, "", "audit", "--domain", "portal.test"); !strings.Contains(out, "domain.sso_secret.rotate") || strings.Contains(out, own) {
		t.Fatalf("audit: %s", out)
	}
}
