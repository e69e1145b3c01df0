package web

import (
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/text/language"
)

// The webmail's languages. Model: the English text of a UI string is its key; the
// templates write {{.UI.T "Compose"}} (or {{.UI.Tf "%d messages" .Total}} with
// fmt verbs), and a catalogue maps the key to the other language's text. A key without
// an entry shows in English, never empty; a test (i18n_test.go) keeps every key the
// templates use in the Chinese catalogue. The language is the user's preference
// (mail_prefs.go) or, until one is chosen, the best match of the browser's
// Accept-Language (RFC 9110 12.5.4) among the supported ones.

// Supported language tags (BCP 47, RFC 5646).
const (
	langEN = "en"
	langZH = "zh-CN"
)

// langMatcher picks among the supported languages; English is the fallback.
var langMatcher = language.NewMatcher([]language.Tag{language.English, language.SimplifiedChinese})

// catalogues holds each non-English language's strings by English key.
var catalogues = map[string]map[string]string{langZH: zhCN}

// acceptLanguage is the supported language that best matches r's Accept-Language.
func acceptLanguage(r *http.Request) string {
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return langEN
	}
	_, i, conf := langMatcher.Match(tags...)
	if i == 1 && conf != language.No {
		return langZH
	}
	return langEN
}

// validLang reports whether l is a supported language tag.
func validLang(l string) bool { return l == langEN || l == langZH }

// T is the UI string key in the page's language. A key may carry a context after "|"
// ("to|rename") to tell apart words that translate differently; English drops it.
func (u uiPrefs) T(key string) string {
	if v, ok := catalogues[u.Lang][key]; ok {
		return v
	}
	if i := strings.IndexByte(key, '|'); i > 0 {
		return key[:i]
	}
	return key
}

// Tf formats the translated format key with args (fmt verbs; translations keep the
// verbs' order).
func (u uiPrefs) Tf(key string, args ...any) string { return fmt.Sprintf(u.T(key), args...) }
