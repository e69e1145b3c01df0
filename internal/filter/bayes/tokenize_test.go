package bayes

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func tokenize(t testing.TB, raw string) []string {
	t.Helper()
	toks, err := Tokenize(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

func wantTokens(t *testing.T, toks []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if _, found := slices.BinarySearch(toks, w); !found {
			t.Errorf("missing token %q in %q", w, toks)
		}
	}
}

func noTokens(t *testing.T, toks []string, bad ...string) {
	t.Helper()
	for _, tok := range toks {
		for _, b := range bad {
			if strings.Contains(tok, b) {
				t.Errorf("token %q contains %q", tok, b)
			}
		}
	}
}

func TestTokenizeHeaders(t *testing.T) {
	raw := "Received: from mx.example\r\nFrom: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <Joerg@Mail.Example.COM>\r\n" +
		"Reply-To: other@elsewhere.example\r\nTo: a@x.example, b@y.example\r\n" +
		"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgQmVybGlu?= FREE!\r\nMessage-ID: <1@gen.example>\r\n" +
		"X-Mailer: BulkMailer 3.1 (build 7)\r\nX-Spam-Status: Yes, score=12\r\n" +
		"X-Mailgrid-Spam: yes\r\nAuthentication-Results: mx; spf=pass\r\n\r\nhello\r\n"
	toks := tokenize(t, raw)
	wantTokens(t, toks, "subject:grüße", "subject:berlin", "subject:free", "subject:has:!",
		"from:addr:joerg@mail.example.com", "from:host:mail.example.com", "from:host:example.com",
		"from:name:jörg", "from:name:müller", "from:host:mail.example.com", "to:host:x.example", "to:count:2-5",
		"replyto:host:elsewhere.example", "replyto:differs", "msgid:host:gen.example",
		"date:none", "mailer:bulkmailer 3.1", "hdr:received", "hdr:x-mailer", "hello")
	noTokens(t, toks, "x-spam", "x-mailgrid", "authentication-results", "score=12", "spf=pass")
	wantTokens(t, tokenize(t, "Subject: WIN A FREE CRUISE NOW\r\n\r\n"), "subject:shouting", "from:none", "msgid:none", "to:count:0")
}

func TestTokenizeBodies(t *testing.T) {
	raw := "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n" +
		"--x\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Sch=F6ne Gr=FC=DFe, visit http://user@Evil.Example:8080/x and www.shop.example.net/y\r\n" +
		"--x\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		b64Lines(`<html><head><style>.hidden{display:none}</style><script>var tracker=1;</script></head>`+
			`<body><!-- comment --><p>caf&eacute; <b>bold</b>word &lt; less</p><a href="https://10.1.2.3/p">x</a>`+
			`<img src="https://cdn.images.example/i.png"></body></html>`) +
		"--x\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"invoice.PDF.exe\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--x--\r\n"
	toks := tokenize(t, raw)
	wantTokens(t, toks, "schöne", "grüße", "visit", "url:userinfo", "url:port", "url:evil.example",
		"url:scheme:http", "url:www.shop.example.net", "url:shop.example.net", "url:example.net",
		"url:ip", "url:cdn.images.example", "url:images.example", "café", "bold", "word", "less",
		"html:tag:a", "html:tag:img", "html:tag:script", "html:tag:style", "html:comment",
		"part:multipart/mixed", "part:text/html", "part:application/octet-stream",
		"charset:iso-8859-1", "cte:quoted-printable", "cte:base64", "filename:ext:.exe")
	noTokens(t, toks, "tracker", "hidden", "display", "<", "&lt")
}

func TestTokenizeCaps(t *testing.T) {
	long := strings.Repeat("x", 45)
	toks := tokenize(t, "Subject: s\r\n\r\nab "+long+" abc\r\n")
	wantTokens(t, toks, "skip:x:40", "abc")
	noTokens(t, toks, long[:maxWordRunes+1])
	if slices.Contains(toks, "ab") {
		t.Error("two-letter word kept")
	}

	// A huge body of distinct words: tokens bounded, text read bounded.
	var b strings.Builder
	b.WriteString("Subject: many\r\n\r\n")
	for i := 0; b.Len() < 2*MaxTextBytes; i++ {
		b.WriteString(noiseWordN(i))
		b.WriteByte(' ')
	}
	toks = tokenize(t, b.String())
	if len(toks) > MaxTokens {
		t.Fatalf("%d tokens, max %d", len(toks), MaxTokens)
	}
	// A huge host name stays within MaxTokenLen.
	toks = tokenize(t, "\r\nhttp://"+strings.Repeat("a.", 300)+"example/\r\n")
	for _, tok := range toks {
		if len(tok) > MaxTokenLen || !utf8.ValidString(tok) {
			t.Errorf("token %q: %d bytes", tok, len(tok))
		}
	}
}

// noiseWordN returns distinct letter-only words for i = 0, 1, 2, ...
func noiseWordN(i int) string {
	b := []byte("qqq")
	for ; i > 0; i /= 26 {
		b = append(b, byte('a'+i%26))
	}
	return string(b)
}

// TestTokenizeStable: the same bytes always give the same tokens (training and
// untraining depend on it), and malformed MIME is not an error.
func TestTokenizeStable(t *testing.T) {
	for _, m := range generateCorpus(5, 5) {
		a := tokenize(t, string(m.raw))
		b := tokenize(t, string(m.raw))
		if !slices.Equal(a, b) || !slices.IsSorted(a) {
			t.Fatal("tokenize is not deterministic or not sorted")
		}
	}
	for _, raw := range []string{"", "\r\n", "no header at all", "Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n",
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64 at all",
		"Content-Type: text/plain; charset=no-such-charset\r\n\r\nsome words here"} {
		if _, err := Tokenize(bytes.NewReader([]byte(raw))); err != nil {
			t.Errorf("Tokenize(%q): %v", raw, err)
		}
	}
}

type failingReader struct{ size int64 }

func (f failingReader) ReadAt(p []byte, off int64) (int, error) { return 0, errFailing }
func (f failingReader) Size() int64                             { return f.size }

var errFailing = errors.New("disk on fire")

func TestTokenizeReadError(t *testing.T) {
	if _, err := Tokenize(failingReader{size: 100}); err == nil {
		t.Fatal("read error not reported")
	}
}
