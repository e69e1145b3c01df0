package web

import (
	"io/fs"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every UI string key the webmail templates use has a Chinese entry, with the same fmt
// verbs in the same order.
func TestCatalogueComplete(t *testing.T) {
	key := regexp.MustCompile(`\.Tf? "((?:[^"\\]|\\.)*)"`)
	verbs := regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)
	files, err := fs.Glob(assetFS, "assets/mail*.html")
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	seen := 0
	for _, f := range files {
		b, err := fs.ReadFile(assetFS, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range key.FindAllStringSubmatch(string(b), -1) {
			seen++
			zh, ok := zhCN[m[1]]
			if !ok {
				t.Errorf("%s: %q has no zh-CN entry", f, m[1])
				continue
			}
			if a, b := verbs.FindAllString(m[1], -1), verbs.FindAllString(zh, -1); strings.Join(a, " ") != strings.Join(b, " ") {
				t.Errorf("%q: verbs %v, zh-CN %v", m[1], a, b)
			}
		}
	}
	// Keys in the Go code of the pages whose refusals and notices are in the user's
	// language.
	goKey := regexp.MustCompile(`\.Tf?\("((?:[^"\\]|\\.)*)"`)
	goSeen := 0
	for _, f := range []string{"mail_prefs.go", "mail_prefs_page.go", "mail_schedule.go", "mail_signature.go", "mail_fetch.go", "mail_sms.go", "mail_reasons.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKey.FindAllStringSubmatch(string(b), -1) {
			goSeen++
			zh, ok := zhCN[m[1]]
			if !ok {
				t.Errorf("%s: %q has no zh-CN entry", f, m[1])
			} else if a, b := verbs.FindAllString(m[1], -1), verbs.FindAllString(zh, -1); strings.Join(a, " ") != strings.Join(b, " ") {
				t.Errorf("%s: %q: verbs %v, zh-CN %v", f, m[1], a, b)
			}
		}
	}
	if goSeen < 60 {
		t.Errorf("only %d keys found in the Go files", goSeen)
	}
	if seen < 100 {
		t.Errorf("only %d keys found in the templates", seen)
	}
	for k, v := range zhCN {
		if strings.TrimSpace(v) == "" {
			t.Errorf("%q: empty translation", k)
		}
	}
}

func TestAcceptLanguage(t *testing.T) {
	for h, want := range map[string]string{
		"":                             langEN,
		"zh-CN,zh;q=0.9,en;q=0.8":      langZH,
		"zh":                           langZH,
		"zh-Hans":                      langZH,
		"en-US,en;q=0.9,zh-CN;q=0.5":   langEN,
		"de-DE,de;q=0.9":               langEN,
		"fr;q=0.9, zh-SG;q=0.8":        langZH,
		"garbage;;;q=x":                langEN,
		strings.Repeat("zh-CN,", 1000): langZH,
	} {
		r, err := http.NewRequest("GET", "/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Accept-Language", h)
		if got := acceptLanguage(r); got != want {
			t.Errorf("Accept-Language %.40q: %s, want %s", h, got, want)
		}
	}
	// A stored choice wins over the header.
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("Accept-Language", "zh-CN")
	if u := uiOf(Prefs{Lang: langEN}, r); u.Lang != langEN || u.T("Compose") != "Compose" {
		t.Errorf("stored English: %+v", u)
	}
	if u := uiOf(Prefs{}, r); u.T("Compose") != "写邮件" || u.Tf("%d results", 3) != "3 个结果" {
		t.Errorf("browser Chinese: %q", u.T("Compose"))
	}
	if u := (uiPrefs{}); u.T("no such key") != "no such key" || u.Date(zeroTime) != "" {
		t.Error("zero uiPrefs")
	}
}
