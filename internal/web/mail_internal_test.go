package web

import "testing"

func TestDownloadNames(t *testing.T) {
	for _, c := range []struct{ in, safe, ext string }{
		{"Grüße 'x' (1).pdf", "Grüße 'x' (1).pdf", "Gr%C3%BC%C3%9Fe%20%27x%27%20%281%29.pdf"},
		{"../../etc/passwd", "_.._etc_passwd", "_.._etc_passwd"},
		{"\u202eexe.txt", "exe.txt", "exe.txt"},
		{"a\r\nContent-Type: text/html", "aContent-Type_ text_html", "aContent-Type_%20text_html"},
		{"...", "download", "download"},
		{"x;y=z,w*", "x;y=z,w_", "x%3By%3Dz%2Cw_"},
	} {
		safe := safeFilename(c.in)
		if safe != c.safe || extValue(safe) != c.ext {
			t.Errorf("%q: safe %q ext %q, want %q %q", c.in, safe, extValue(safe), c.safe, c.ext)
		}
	}
}
