package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/store"
	"mailgrid/internal/web"
)

// TestMailSearchPaged: with the text index, a search returns pages of the user's page
// size, newest first across folders, "page" asks for a later one; header terms are
// answered through the index and checked on the rows; unread and flagged filter.
func TestMailSearchPaged(t *testing.T) {
	h := mailHarness(t, func(o *web.MailOptions, _ *deliverytest.Env) { o.PageSize = 10 })
	c := h.loggedIn("u1@a.example")
	for i := range 25 {
		h.deliver("u1@a.example", fmt.Sprintf(textMail, fmt.Sprintf("item-%02d", i), fmt.Sprint("p", i), "u1"))
	}
	h.deliver("u1@a.example", fmt.Sprintf(textMail, "unrelated", "other", "u1"))
	in, arch := h.box("u1@a.example", store.Inbox), h.box("u1@a.example", store.Archive)
	ms := h.msgs("u1@a.example", in)
	move := url.Values{"op": {"move"}, "dest": {itoa(int64(arch.ID))}, "mb": {itoa(int64(in.ID))}}
	for _, m := range ms[:5] { // item-00 .. item-04: the oldest, in another folder
		move.Add("uid", itoa(int64(m.UID)))
	}
	c.post("/mail/act", move)
	c.post("/mail/act", url.Values{"op": {"flag"}, "mb": {itoa(int64(in.ID))}, "uid": {itoa(int64(ms[7].UID)), itoa(int64(ms[9].UID))}})
	c.post("/mail/act", url.Values{"op": {"read"}, "mb": {itoa(int64(in.ID))}, "uid": {itoa(int64(ms[20].UID)), itoa(int64(ms[21].UID))}})
	subj := regexp.MustCompile(`item-\d\d|unrelated`)
	search := func(q string) (items []string, next bool) {
		t.Helper()
		st, _, body := c.get("/mail/search?" + q)
		if st != http.StatusOK {
			t.Fatalf("search %s: %d", q, st)
		}
		for _, row := range strings.Split(body, `<tr class="row`)[1:] {
			items = append(items, subj.FindString(row))
		}
		return items, strings.Contains(body, `id="next-page"`)
	}
	want := func(from, to int) []string { // item-from down to item-to
		var out []string
		for i := from; i >= to; i-- {
			out = append(out, fmt.Sprintf("item-%02d", i))
		}
		return out
	}
	for _, tc := range []struct {
		q    string
		want []string
		next bool
	}{
		{"subject=item", want(24, 15), true},
		{"subject=item&page=2", want(14, 5), true},
		{"subject=item&page=3", want(4, 0), false},
		{"q=ITEM-07", want(7, 7), false},
		{"subject=item-1", want(19, 10), false},
		{"subject=item&folder=" + itoa(int64(arch.ID)), want(4, 0), false},
		{"flagged=1", append(want(9, 9), want(7, 7)...), false},
		{"flagged=1&subject=item-0", append(want(9, 9), want(7, 7)...), false},
		{"unread=1&subject=item-2", want(24, 22), false}, // item-20 and item-21 read
		{"since=2000-01-01&unread=1", append(append([]string{"unrelated"}, want(24, 22)...), want(19, 14)...), true},
		{"subject=nothing-matches", nil, false},
	} {
		got, next := search(tc.q)
		if !slices.Equal(got, tc.want) || next != tc.next {
			t.Errorf("search %s: %v (more: %v), want %v (more: %v)", tc.q, got, next, tc.want, tc.next)
		}
	}
}

// TestMailSearchFormFilters: the advanced form offers the unread and flagged filters and
// keeps them checked on the result page.
func TestMailSearchFormFilters(t *testing.T) {
	h := mailHarness(t, nil)
	c := h.loggedIn("u1@a.example")
	_, _, form := c.get("/mail/search?advanced=1")
	for _, name := range []string{`name="unread" value="1">`, `name="flagged" value="1">`} {
		if !strings.Contains(form, name) {
			t.Errorf("advanced search form lacks %s", name)
		}
	}
	_, _, res := c.get("/mail/search?advanced=1&unread=1&flagged=1&subject=x")
	for _, name := range []string{`name="unread" value="1" checked>`, `name="flagged" value="1" checked>`} {
		if !strings.Contains(res, name) {
			t.Errorf("result page does not keep %s", name)
		}
	}
}
