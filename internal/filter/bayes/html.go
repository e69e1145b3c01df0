package bayes

import (
	"html"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// maxURLs bounds the URLs looked at per text part.
const maxURLs = 200

// htmlTags are the tags whose presence is a token: the ones spam uses far more than
// people writing mail do (images, forms, scripts, font tricks).
var htmlTags = []string{"img", "a", "font", "table", "form", "script", "iframe", "style", "object", "embed", "input", "map"}

// html adds the tokens of an HTML part: URLs (from href/src and text alike), the
// presence of telling tags and comments, and the words of the text left once tags,
// comments, scripts and styles are removed and entities decoded.
func (t *tokens) html(src string) {
	t.urls(src)
	t.words("", stripHTML(src, t))
}

// stripHTML reduces HTML to its text, adding "html:" tokens to t as it goes (t may be
// nil). It is a scanner, not a parser: enough to read what a mail reader would show.
func stripHTML(src string, t *tokens) string {
	lower := asciiLower(src)
	var sb strings.Builder
	sb.Grow(len(src) / 2)
	i := 0
	for i < len(src) {
		j := strings.IndexByte(src[i:], '<')
		if j < 0 {
			sb.WriteString(src[i:])
			break
		}
		sb.WriteString(src[i : i+j])
		sb.WriteByte(' ')
		i += j
		i = skipMarkup(lower, i, t)
	}
	return html.UnescapeString(sb.String())
}

// skipMarkup returns the index after the markup starting at lower[i] == '<': a comment,
// a script or style element with its content, or one tag.
func skipMarkup(lower string, i int, t *tokens) int {
	if strings.HasPrefix(lower[i:], "<!--") {
		if t != nil {
			t.add("html:comment")
		}
		return endAfter(lower, i+4, "-->")
	}
	name := tagName(lower[i+1:])
	if name == "" && !strings.HasPrefix(lower[i+1:], "/") && !strings.HasPrefix(lower[i+1:], "!") && !strings.HasPrefix(lower[i+1:], "?") {
		return i + 1 // a bare '<' in text ("a < b"), not markup
	}
	if t != nil && name != "" {
		for _, tag := range htmlTags {
			if name == tag {
				t.add("html:tag:" + tag)
			}
		}
	}
	end := endAfter(lower, i+1, ">")
	if name == "script" || name == "style" {
		end = endAfter(lower, endAfter(lower, end, "</"+name), ">")
	}
	return end
}

// endAfter returns the index just after the first sep at or after from, or len(s).
func endAfter(s string, from int, sep string) int {
	if from >= len(s) {
		return len(s)
	}
	if k := strings.Index(s[from:], sep); k >= 0 {
		return from + k + len(sep)
	}
	return len(s)
}

// tagName returns the lower-case name of the tag starting at s (after '<'); "" if s does
// not start a tag.
func tagName(s string) string {
	s = strings.TrimPrefix(s, "/")
	n := 0
	for n < len(s) && n < 16 && (s[n] >= 'a' && s[n] <= 'z' || n > 0 && s[n] >= '0' && s[n] <= '9') {
		n++
	}
	return s[:n]
}

// asciiLower lower-cases ASCII letters only, so byte offsets match the original.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// urls adds a token for the host of every URL in text (http, https, and bare "www."),
// with its parent domains, and marks the tricks spam plays with URLs: an IP address for
// a host, a port, userinfo ("http://bank.example@evil.example/").
func (t *tokens) urls(text string) {
	lower := asciiLower(text)
	seen := 0
	for i := 0; i < len(lower) && seen < maxURLs; {
		j, skip := nextURL(lower[i:])
		if j < 0 {
			return
		}
		start := i + j + skip
		end := start
		for end < len(lower) && !strings.ContainsRune(" \t\r\n\"'<>()[]{}\\", rune(lower[end])) {
			end++
		}
		if skip > 0 {
			t.add("url:scheme:" + strings.TrimSuffix(lower[i+j:start], "://"))
		}
		t.urlHost(lower[start:end])
		seen++
		i = max(end, start+1)
	}
}

// nextURL finds the next URL start in s: its index and the length of its scheme prefix
// ("" for "www."); -1 if there is none.
func nextURL(s string) (int, int) {
	best, skip := -1, 0
	for _, p := range []string{"https://", "http://", "www."} {
		if k := strings.Index(s, p); k >= 0 && (best < 0 || k < best) {
			best, skip = k, len(p)
			if p == "www." {
				skip = 0
			}
		}
	}
	return best, skip
}

// urlHost adds the tokens for the authority part of a URL (RFC 3986 3.2).
func (t *tokens) urlHost(rest string) {
	auth := rest
	if k := strings.IndexAny(auth, "/?#"); k >= 0 {
		auth = auth[:k]
	}
	if k := strings.LastIndexByte(auth, '@'); k >= 0 {
		t.add("url:userinfo")
		auth = auth[k+1:]
	}
	host := auth
	if strings.HasPrefix(host, "[") { // RFC 3986 3.2.2 IP-literal
		t.add("url:ip")
		return
	}
	if k := strings.LastIndexByte(host, ':'); k >= 0 {
		t.add("url:port")
		host = host[:k]
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return
	}
	if _, err := netip.ParseAddr(host); err == nil {
		t.add("url:ip")
		return
	}
	for _, d := range domainSuffixes(host) {
		t.add("url:" + d)
	}
}

// domainSuffixes returns host and its parent domains down to two labels, at most four:
// "a.b.example.com" -> "a.b.example.com", "b.example.com", "example.com".
func domainSuffixes(host string) []string {
	if len(host) > 253 { // RFC 1035 2.3.4; keep the end, where the domain is
		i := len(host) - 253
		for i < len(host) && !utf8.RuneStart(host[i]) {
			i++
		}
		host = host[i:]
	}
	out := []string{host}
	for len(out) < 4 {
		_, parent, ok := strings.Cut(out[len(out)-1], ".")
		if !ok || !strings.Contains(parent, ".") {
			break
		}
		out = append(out, parent)
	}
	return out
}
