// Package htmlsafe turns the HTML body of a received message into HTML that is safe to
// show in the webmail: no script, no way to run any, no request leaving the browser
// unless the user allowed remote content for this message.
//
// Model: two passes.
//
//  1. An allow-list policy (github.com/microcosm-cc/bluemonday, our own policy, not its
//     UGC one, which keeps remote images) parses the HTML the way a browser's tokenizer
//     does and writes back only allowed elements and attributes: text formatting, lists,
//     tables, links and images. Everything else is dropped: script, style sheets (<style>,
//     <link>), <meta> (refresh), <base>, forms and their controls, frames, objects,
//     embeds, SVG and MathML (whose foreign-content parsing rules are the usual source of
//     mutation XSS: their tags go and the content of svg, math, template and textarea is
//     skipped), every on* event handler, and every URL whose scheme is not http, https,
//     mailto, cid (images only) or data: of an image type (images only). Relative URLs are
//     dropped: a message has no base. Style attributes keep a subset of properties
//     (colours, fonts, spacing, borders, alignment, sizes) whose values are plain tokens:
//     no url(), no expression(), no escapes, no functions but rgb/rgba/hsl/hsla.
//  2. A rewrite over the policy's output (golang.org/x/net/html tokenizer): cid: image
//     sources become the caller's URL for that Content-ID (RFC 2392), remote image sources
//     are removed unless Options.RemoteImages (and counted, so the UI can offer to load
//     them), links get target=_blank and rel="noopener noreferrer", and any URL left in a
//     place it does not belong (data: on a link, cid: on a link) is removed.
//
// The output is meant for a sandboxed iframe (no allow-scripts, no allow-same-origin)
// whose document carries its own Content-Security-Policy; the sanitiser is the first
// wall, not the only one. Sanitize never fails: input it cannot make sense of becomes
// text.
package htmlsafe

import (
	"bytes"
	"io"
	"net/url"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
)

// Options steer one Sanitize call.
type Options struct {
	// RemoteImages keeps http and https image sources. Without it they are removed and
	// counted in Result.RemoteBlocked.
	RemoteImages bool
	// CID maps a cid: URL's Content-ID (without "cid:" and angle brackets) to the URL
	// the image is served at; "" (or a nil CID) removes the source.
	CID func(contentID string) string
}

// Result is the sanitised HTML (a fragment: no html, head or body element) and what was
// held back.
type Result struct {
	HTML          string
	RemoteBlocked int // remote image sources removed (Options.RemoteImages was false)
}

// Sanitizer holds the policy; build it once with New and share it (it is safe for
// concurrent use).
type Sanitizer struct {
	p *bluemonday.Policy
}

// allowedElements are the elements the policy keeps (attributes are listed separately).
var allowedElements = []string{
	"a", "abbr", "acronym", "address", "article", "aside", "b", "bdi", "bdo", "big",
	"blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd", "del",
	"details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "font", "footer",
	"h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "i", "img", "ins", "kbd", "li",
	"main", "mark", "nav", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "section",
	"small", "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td",
	"tfoot", "th", "thead", "tr", "tt", "u", "ul", "var", "wbr",
}

// AllowedElements lists the elements Sanitize may output (for tests that check a
// parsed result against the policy).
func AllowedElements() []string { return append([]string(nil), allowedElements...) }

// allowedStyles are the CSS properties kept in style attributes (values checked by
// safeStyleValue).
var allowedStyles = []string{
	"color", "background-color", "font", "font-family", "font-size", "font-style", "font-weight",
	"text-align", "text-decoration", "text-transform", "text-indent", "line-height", "letter-spacing",
	"white-space", "vertical-align", "direction",
	"margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
	"padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
	"border", "border-top", "border-right", "border-bottom", "border-left", "border-color",
	"border-style", "border-width", "border-collapse", "border-spacing", "border-radius",
	"width", "height", "max-width", "min-width", "max-height", "min-height", "display",
	"list-style-type", "table-layout",
}

// styleValue is what a kept CSS value may consist of: words, numbers, units, colours,
// quotes for font names, commas and the colour functions' parentheses.
var styleValue = regexp.MustCompile(`^[a-zA-Z0-9 #%.,\-+'"!()/]*$`)

// colourFunc matches the functions allowed in a value.
var colourFunc = regexp.MustCompile(`(?i)(rgba?|hsla?)\($`)

// safeStyleValue reports whether a CSS property value is free of anything that could
// load a resource or run code (url(), image-set(), expression(), escapes, @import).
func safeStyleValue(v string) bool { return safeCSS(v, 200) }

// safeCSS is safeStyleValue for a text of at most max bytes.
func safeCSS(v string, max int) bool {
	if len(v) > max || !styleValue.MatchString(v) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] == '(' && !colourFunc.MatchString(v[:i+1]) {
			return false
		}
	}
	return true
}

// New builds the policy.
func New() *Sanitizer {
	p := bluemonday.NewPolicy()
	p.AllowElements(allowedElements...)
	p.AllowStandardAttributes() // dir, lang, title (and id, class: inert without script and style sheets)
	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("name").OnElements("a")
	p.AllowAttrs("src", "alt", "width", "height", "border", "hspace", "vspace").OnElements("img")
	p.AllowAttrs("align").Matching(regexp.MustCompile(`(?i)^(left|right|center|justify|top|middle|bottom)$`)).Globally()
	p.AllowAttrs("valign").Matching(regexp.MustCompile(`(?i)^(top|middle|bottom|baseline)$`)).Globally()
	p.AllowAttrs("bgcolor", "color").Matching(regexp.MustCompile(`^#?[a-zA-Z0-9]{1,20}$`)).Globally()
	p.AllowAttrs("face").Matching(regexp.MustCompile(`^[a-zA-Z0-9 ,\-'"]{1,100}$`)).OnElements("font")
	p.AllowAttrs("size").Matching(regexp.MustCompile(`^[+\-]?[0-9]{1,2}$`)).OnElements("font")
	p.AllowAttrs("width", "height", "border", "cellpadding", "cellspacing", "colspan", "rowspan", "span").
		Matching(regexp.MustCompile(`^[0-9]{1,5}(%|px)?$`)).OnElements("table", "td", "th", "col", "colgroup", "tr", "hr")
	p.AllowAttrs("start", "reversed", "type").OnElements("ol")
	p.AllowAttrs("open").OnElements("details")
	p.AllowAttrs("cite").OnElements("blockquote", "q", "del", "ins")
	p.AllowStyles(allowedStyles...).MatchingHandler(safeStyleValue).Globally()
	p.AllowURLSchemes("http", "https", "mailto", "cid")
	p.AllowDataURIImages()
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	// Content of what is dropped, on top of the defaults (script, style, title, iframe,
	// object, noscript...): foreign content and raw-text containers.
	p.SkipElementsContent("svg", "math", "template", "textarea", "select", "option", "head", "xmp", "noembed", "button")
	return &Sanitizer{p: p}
}

// Sanitize makes src safe to show (see the package doc).
func (s *Sanitizer) Sanitize(src string, opt Options) Result {
	clean := s.p.Sanitize(src)
	return rewrite(clean, opt)
}

// rewrite is the second pass: URLs by place, link attributes, a last style check.
func rewrite(clean string, opt Options) Result {
	var out bytes.Buffer
	var res Result
	droppedA := 0 // <a> start tags dropped (their href went), so their end tags go too
	z := html.NewTokenizer(strings.NewReader(clean))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				// The tokenizer only fails on read errors; a string reader has none.
				return Result{HTML: html.EscapeString(clean)}
			}
			break
		}
		tok := z.Token()
		if tt == html.StartTagToken || tt == html.SelfClosingTagToken {
			tok.Attr = fixAttrs(tok.Data, tok.Attr, opt, &res)
			switch {
			case tok.Data == "img" && !hasAttr(tok.Attr, "src"):
				// An image without a source shows its alternative text, as a
				// browser would (and as the policy would on a second pass).
				out.WriteString(html.EscapeString(attrValue(tok.Attr, "alt")))
				continue
			case tok.Data == "a" && !hasAttr(tok.Attr, "href") && !hasAttr(tok.Attr, "name") && tt == html.StartTagToken:
				droppedA++
				continue
			}
		}
		if tt == html.EndTagToken && tok.Data == "a" && droppedA > 0 {
			droppedA--
			continue
		}
		out.WriteString(tok.String())
	}
	res.HTML = out.String()
	return res
}

func fixAttrs(tag string, attrs []html.Attribute, opt Options, res *Result) []html.Attribute {
	kept := attrs[:0]
	external := false
	for _, a := range attrs {
		switch {
		case a.Key == "style" && !safeCSS(strings.NewReplacer(":", " ", ";", " ").Replace(a.Val), 4000):
			continue
		case tag == "img" && a.Key == "src":
			v, ok := imageSource(a.Val, opt, res)
			if !ok {
				continue
			}
			a.Val = v
		case tag == "a" && a.Key == "href":
			u, err := url.Parse(a.Val)
			if err != nil {
				continue
			}
			switch strings.ToLower(u.Scheme) {
			case "http", "https":
				external = true
			case "mailto":
			default: // data:, cid: and anything else have no business on a link
				continue
			}
		case tag == "a" && (a.Key == "rel" || a.Key == "target"):
			continue // set below
		case a.Key == "cite" && !strings.HasPrefix(strings.ToLower(a.Val), "http"):
			continue
		}
		kept = append(kept, a)
	}
	if external {
		kept = append(kept, html.Attribute{Key: "target", Val: "_blank"},
			html.Attribute{Key: "rel", Val: "noopener noreferrer"})
	}
	return kept
}

// imageSource decides an img src: cid: through Options.CID, remote only when allowed,
// data: (already restricted to image types by the policy) as it is.
func imageSource(v string, opt Options, res *Result) (string, bool) {
	u, err := url.Parse(v)
	if err != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "cid":
		if opt.CID == nil {
			return "", false
		}
		id := strings.Trim(u.Opaque, "<>")
		if id == "" {
			id = strings.Trim(strings.TrimPrefix(v, u.Scheme+":"), "<>")
		}
		if id, err = url.PathUnescape(id); err != nil { // RFC 2392: cid URLs are %-encoded
			return "", false
		}
		r := opt.CID(id)
		return r, r != ""
	case "http", "https":
		if !opt.RemoteImages {
			res.RemoteBlocked++
			return "", false
		}
		return v, true
	case "data":
		// The policy let only image types through; raster ones only (an SVG image
		// runs no script, but is a parser we need not expose).
		lv := strings.ToLower(v)
		for _, t := range []string{"png", "gif", "jpeg", "jpg", "webp", "bmp"} {
			if strings.HasPrefix(lv, "data:image/"+t+";") || strings.HasPrefix(lv, "data:image/"+t+",") {
				return v, true
			}
		}
		return "", false
	}
	return "", false
}

func hasAttr(attrs []html.Attribute, key string) bool {
	for _, a := range attrs {
		if a.Key == key {
			return true
		}
	}
	return false
}

func attrValue(attrs []html.Attribute, key string) string {
	for _, a := range attrs {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
