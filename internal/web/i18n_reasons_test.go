package web

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestReasonsInCatalogue: every reason the core packages word for a webmail user (the
// formats given to fetch.Invalid and directory.Invalid, and the fetcher's Validate) and
// every fixed refusal the pages show (userRefusals) has a zh-CN entry with the same fmt
// verbs in the same order.
func TestReasonsInCatalogue(t *testing.T) {
	call := regexp.MustCompile(`\b(?:Invalid|bad)\(("(?:[^"\\]|\\.)*")`)
	verbs := regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)
	check := func(where, key string) {
		t.Helper()
		zh, ok := zhCN[key]
		switch {
		case !ok:
			t.Errorf("%s: %q has no zh-CN entry", where, key)
		case strings.Join(verbs.FindAllString(key, -1), " ") != strings.Join(verbs.FindAllString(zh, -1), " "):
			t.Errorf("%s: %q: verbs differ in zh-CN %q", where, key, zh)
		}
	}
	seen := 0
	for _, f := range []string{"../fetch/fetch.go", "../directory/sso.go", "../sms/service.go", "mail_fetch.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(b), -1) {
			key, err := strconv.Unquote(m[1])
			if err != nil {
				t.Fatalf("%s: %s: %v", f, m[1], err)
			}
			seen++
			check(f, key)
		}
	}
	if seen < 15 {
		t.Errorf("only %d reason formats found in the core packages", seen)
	}
	for _, err := range userRefusals {
		check("userRefusals", err.Error())
	}
}
