package web

import (
	netmail "net/mail"
	"testing"

	"mailgrid/internal/message"
)

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

func TestInputAddrParsesBack(t *testing.T) {
	for _, name := range []string{"", "Plain Name", `Doe, John "JD"`, `back\slash`, "Grüße <x>", "a.b@c"} {
		a := message.Address{Name: name, Mailbox: "x", Host: "example.test"}
		list, err := (&netmail.AddressParser{}).ParseList(inputList([]message.Address{a, a}))
		if err != nil || len(list) != 2 || list[0].Name != name || list[0].Address != "x@example.test" {
			t.Errorf("%q: %q -> %v %v", name, inputAddr(a), list, err)
		}
	}
}
