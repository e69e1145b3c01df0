package web

import (
	"strings"
	"testing"
	"time"

	"mailgrid/internal/message/htmlsafe"
)

var zeroTime time.Time

func TestHTMLText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`<div>Hello <b>bold</b> and <i>it</i></div><div><u>under</u></div>`, "Hello bold and it\nunder\n"},
		{`<ul><li>one</li><li>two</li></ul><ol><li>first</li><li>second</li></ol>`, "- one\n- two\n1. first\n2. second\n"},
		{`<p>see <a href="https://example.test/x">the site</a> or <a href="https://example.test/">https://example.test/</a></p>`,
			"see the site <https://example.test/x> or https://example.test/\n"},
		{`<blockquote>quoted<br>two</blockquote>after`, "> quoted\n> two\nafter\n"},
		{`line<br><br>gap &amp; &lt;tag&gt;`, "line\n\ngap & <tag>\n"},
		{`<ul><li>a<ul><li>nested</li></ul></li></ul>`, "- a\n  - nested\n"},
		{`<div>Hello <b>bold</b>&nbsp;and <u>u</u></div>`, "Hello bold and u\n"},
	} {
		if got := htmlText(c.in); got != c.want {
			t.Errorf("htmlText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRichBodySanitised(t *testing.T) {
	clean := htmlsafe.New()
	h, text, err := richBody(clean, `<b>bold</b><script>alert(1)</script><img src=x onerror=alert(1)>`+
		`<a href="javascript:alert(2)">js</a><img src="http://beacon.test/p.gif"><a href="https://ok.test/">ok</a>`)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"script", "onerror", "javascript:", "beacon.test", "alert"} {
		if strings.Contains(h, bad) || strings.Contains(text, bad) {
			t.Errorf("%q survived: %q / %q", bad, h, text)
		}
	}
	if !strings.Contains(h, "<b>bold</b>") || !strings.Contains(text, "bold") || !strings.Contains(text, "ok <https://ok.test/>") {
		t.Errorf("lost the content: %q / %q", h, text)
	}
	if h, text, err := richBody(clean, "<div><br></div>"); h != "" || text != "" || err != nil {
		t.Errorf("empty editor: %q %q %v", h, text, err)
	}
	if _, _, err := richBody(clean, strings.Repeat("x", maxRichHTML+1)); err == nil {
		t.Error("oversized HTML accepted")
	}
}
