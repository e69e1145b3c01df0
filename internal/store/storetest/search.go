package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// searchMessages are bodies whose searchable text exercises store.ExtractText: encodings,
// charsets, HTML, attachments, encoded header words, folding.
var searchMessages = []string{
	// 1: plain text.
	"From: alice@example.org\r\nSubject: Lunch plans\r\n\r\nShall we meet at the Quayside Café at noon?\r\n",
	// 2: quoted-printable UTF-8 body, RFC 2047 subject.
	"From: bob@example.org\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Die Stra=C3=9Fe ist gesperrt, wir nehmen den Umweg =C3=BCber die Br=C3=BCcke.\r\n",
	// 3: base64 ISO-8859-1 body.
	"From: carol@example.org\r\nSubject: Facture\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"Vm9pY2kgbGEgZmFjdHVyZSBkdSBtb2lzIGQn6XTpLg==\r\n", // "Voici la facture du mois d'été."
	// 4: multipart/alternative with HTML, and a binary attachment holding a word.
	"From: dave@example.org\r\nSubject: Newsletter\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n" +
		"<html><head><style>.zebracolour{color:red}</style></head><body><p>Big <b>sum</b>mer sale</p>" +
		"<script>var hiddenscript=1;</script><!-- commentword -->Prices &amp; more</body></html>\r\n" +
		"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"YXR0YWNobWVudHNlY3JldA==\r\n--XX--\r\n", // "attachmentsecret"
	// 5: folded header, special characters in the body.
	"From: erin@example.org\r\nSubject: A very long subject line that\r\n continues on the next line\r\n" +
		"X-Tracking: ticket-4711\r\n\r\nDiscount 50%_off *now* [really]? ok\r\n",
}

func testSearchText(t *testing.T, h *harness) {
	ts, ok := h.s.(store.TextSearcher)
	if !ok {
		t.Skip("driver has no text index (store.TextSearcher is optional)")
	}
	a := h.account("example.com", 1)
	other := h.account("example.net", 2)
	for _, m := range searchMessages {
		h.deliver(a, "", m)
	}
	h.deliver(other, "", searchMessages[0]) // same body in another account: one shared blob
	inbox := h.mailbox(a, "INBOX").ID
	search := func(needle string, header bool) []store.UID {
		t.Helper()
		uids, err := ts.SearchText(h.ctx, a, inbox, store.TextQuery{Needle: needle, Header: header})
		if err != nil {
			t.Fatalf("SearchText(%q, header %v): %v", needle, header, err)
		}
		return uids
	}
	cases := []struct {
		needle     string
		body, text []store.UID
	}{
		{"quayside café", []store.UID{1}, []store.UID{1}},
		{"QUAYSIDE", []store.UID{1}, []store.UID{1}},                // case-insensitive
		{"straße", []store.UID{2}, []store.UID{2}},                  // quoted-printable UTF-8
		{"über die brücke", []store.UID{2}, []store.UID{2}},         // spanning words
		{"grüße aus", nil, []store.UID{2}},                          // RFC 2047 subject: header only
		{"d'été", []store.UID{3}, []store.UID{3}},                   // base64 ISO-8859-1
		{"summer sale", []store.UID{4}, []store.UID{4}},             // HTML: inline tags join words
		{"prices & more", []store.UID{4}, []store.UID{4}},           // entities decoded
		{"zebracolour", nil, nil},                                   // style content is not text
		{"hiddenscript", nil, nil},                                  // nor script
		{"commentword", nil, nil},                                   // nor comments
		{"<b>", nil, nil},                                           // nor tags
		{"attachmentsecret", nil, nil},                              // attachments are not text
		{"that continues on", nil, []store.UID{5}},                  // unfolded header
		{"ticket-4711", nil, []store.UID{5}},                        // any header field
		{"50%_off *now* [really]?", []store.UID{5}, []store.UID{5}}, // no wildcards
		{"%", []store.UID{5}, []store.UID{5}},
		{"_", []store.UID{5}, []store.UID{5}},
		{"*", []store.UID{5}, []store.UID{5}},
		{"ok", []store.UID{5}, []store.UID{5}}, // shorter than a trigram
		{"é", []store.UID{1, 3}, []store.UID{1, 3}},
		{"alice@example.org", nil, []store.UID{1}},
		{"from:", nil, []store.UID{1, 2, 3, 4, 5}},
		{"", []store.UID{1, 2, 3, 4, 5}, []store.UID{1, 2, 3, 4, 5}},
		{"nowhere to be found", nil, nil},
	}
	for _, c := range cases {
		if got := search(c.needle, false); !slices.Equal(got, c.body) {
			t.Errorf("BODY %q: %v, want %v", c.needle, got, c.body)
		}
		if got := search(c.needle, true); !slices.Equal(got, c.text) {
			t.Errorf("TEXT %q: %v, want %v", c.needle, got, c.text)
		}
	}

	// New mail is found at once (lazy indexing); expunged mail is not.
	h.deliver(a, "", "Subject: later\r\n\r\nA quayside walk.\r\n")
	if got := search("quayside", false); !slices.Equal(got, []store.UID{1, 6}) {
		t.Errorf("after a delivery: %v, want [1 6]", got)
	}
	if _, err := h.s.Expunge(h.ctx, a, inbox, []store.UID{1}); err != nil {
		t.Fatal(err)
	}
	if got := search("quayside", false); !slices.Equal(got, []store.UID{6}) {
		t.Errorf("after an expunge: %v, want [6]", got)
	}
	// The other account still finds its copy of the shared body, and a mailbox of
	// another account is not found.
	oinbox := h.mailbox(other, "INBOX").ID
	if got, err := ts.SearchText(h.ctx, other, oinbox, store.TextQuery{Needle: "quayside"}); err != nil || !slices.Equal(got, []store.UID{1}) {
		t.Errorf("other account: %v %v, want [1]", got, err)
	}
	if _, err := ts.SearchText(h.ctx, a, oinbox, store.TextQuery{Needle: "quayside"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another account's mailbox: %v, want ErrNotFound", err)
	}
	// A copy shares the body and is found in its mailbox.
	dst := h.create(a, "Copies").ID
	if _, err := h.s.Copy(h.ctx, a, inbox, []store.UID{2}, dst, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	if got, err := ts.SearchText(h.ctx, a, dst, store.TextQuery{Needle: "straße"}); err != nil || !slices.Equal(got, []store.UID{1}) {
		t.Errorf("copy: %v %v, want [1]", got, err)
	}
}

// testSearchTextOracle compares the index with store.ExtractText and strings.Contains
// over generated messages, the definition the index must match exactly.
func testSearchTextOracle(t *testing.T, h *harness) {
	ts, ok := h.s.(store.TextSearcher)
	if !ok {
		t.Skip("driver has no text index (store.TextSearcher is optional)")
	}
	n := 2000
	if testing.Short() {
		n = 300
	}
	a := h.account("example.com", 1)
	inbox := h.mailbox(a, "INBOX").ID
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"alpha", "Beta", "gamma", "DELTA", "épsilon", "zeta", "eta", "θήτα", "iota", "kappa",
		"lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon"}
	msgs := make([]string, n)
	for i := range msgs {
		var b strings.Builder
		for range 5 + rng.IntN(40) {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		subj := words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]
		if i%3 == 0 {
			msgs[i] = fmt.Sprintf("Subject: %s %d\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>%s</p><i>x</i>y\r\n", subj, i, b.String())
		} else {
			msgs[i] = fmt.Sprintf("Subject: %s %d\r\n\r\n%s\r\n", subj, i, b.String())
		}
	}
	// Delivered by a few goroutines (group commits): UIDs follow commit order.
	texts := map[store.UID]store.SearchableText{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan string)
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for msg := range next {
				res, err := h.s.Deliver(h.ctx, store.Delivery{Body: body(msg), Targets: []store.DeliveryTarget{{Account: a}}})
				if err == nil && res[0].Err != nil {
					err = res[0].Err
				}
				var st store.SearchableText
				if err == nil {
					st, err = store.ExtractText(bytes.NewReader([]byte(msg)), int64(len(msg)))
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				texts[res[0].UID] = st
				mu.Unlock()
			}
		})
	}
feed:
	for _, msg := range msgs {
		select {
		case next <- msg:
		case err := <-errs:
			t.Error(err)
			break feed
		}
	}
	close(next)
	wg.Wait()
	if len(texts) != n {
		t.Fatalf("delivered %d of %d", len(texts), n)
	}
	needles := append(slices.Clone(words), "ha ga", "a b", "xy", "ta", "a", "Σ", "ETA ", "pi rho", "subject: zeta", "99")
	for _, needle := range needles {
		for _, header := range []bool{false, true} {
			var want []store.UID
			f := store.FoldText(needle)
			for uid, st := range texts {
				if strings.Contains(store.FoldText(st.Body), f) || header && strings.Contains(store.FoldText(st.Header), f) {
					want = append(want, uid)
				}
			}
			slices.Sort(want)
			got, err := ts.SearchText(h.ctx, a, inbox, store.TextQuery{Needle: needle, Header: header})
			if err != nil {
				t.Fatalf("SearchText(%q): %v", needle, err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("SearchText(%q, header %v): %d UIDs, want %d", needle, header, len(got), len(want))
			}
		}
	}
}

// BenchSearchText measures store.TextSearcher.SearchText over one mailbox of 10,000
// generated messages (8-30 words each from a vocabulary of 18), delivered by 20
// goroutines. The first search, which indexes them all, is reported as index-build-s;
// then one sub-benchmark per needle: a word in most messages, a word pair in ~5%, two
// letters (no trigram), and a needle found nowhere.
func BenchSearchText(b *testing.B, s store.Store) {
	ts, ok := s.(store.TextSearcher)
	if !ok {
		b.Skip("no store.TextSearcher")
	}
	const n = 10000
	ctx := b.Context()
	a := store.AccountRef{Domain: "example.com", ID: 1}
	if err := s.EnsureAccount(ctx, a); err != nil {
		b.Fatal(err)
	}
	words := []string{"apple", "banana", "cherry", "date", "elder", "fig", "grape", "honeydew", "kiwi",
		"lemon", "mango", "nectarine", "olive", "papaya", "quince", "straße", "über", "éclair"}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for m := int(next.Add(1)); m <= n; m = int(next.Add(1)) {
				var w []string
				for k := range 8 + m%23 {
					w = append(w, words[(m*7+k*k)%len(words)])
				}
				msg := fmt.Sprintf("Subject: note %d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", m, strings.Join(w, " "))
				res, err := s.Deliver(ctx, store.Delivery{Body: body(msg), Targets: []store.DeliveryTarget{{Account: a}}})
				if err != nil || res[0].Err != nil {
					b.Errorf("Deliver: %v %+v", err, res)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	mb, err := s.Mailbox(ctx, a, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := ts.SearchText(ctx, a, mb.ID, store.TextQuery{Needle: "warmup"}); err != nil {
		b.Fatal(err)
	}
	b.Logf("first search, indexing what the background indexer left of %d messages: %v", n, time.Since(start))
	if st, ok := s.(store.TextIndexState); ok {
		b.Run("unindexed", func(b *testing.B) { // the webmail's check before a header-only search
			for b.Loop() {
				if _, err := st.TextUnindexed(ctx, a, mb.ID, 201); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, c := range []struct{ name, needle string }{
		{"common", "nectarine"}, {"pair", "straße über"}, {"short", "ig"}, {"none", "nothing-like-this"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := ts.SearchText(ctx, a, mb.ID, store.TextQuery{Needle: c.needle, Header: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// testSearchTextConcurrent searches while messages arrive: whatever interleaving, a
// search finds every matching message delivered before it started, and once delivery
// stops, exactly all of them.
func testSearchTextConcurrent(t *testing.T, h *harness) {
	ts, ok := h.s.(store.TextSearcher)
	if !ok {
		t.Skip("driver has no text index (store.TextSearcher is optional)")
	}
	const n = 150
	a := h.account("example.com", 1)
	inbox := h.mailbox(a, "INBOX").ID
	var delivered atomic.Int64 // messages whose Deliver returned
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			msg := fmt.Sprintf("Subject: c %d\r\n\r\nmarmalade number %d\r\n", i, i)
			res, err := h.s.Deliver(h.ctx, store.Delivery{Body: body(msg), Targets: []store.DeliveryTarget{{Account: a}}})
			if err != nil || res[0].Err != nil {
				t.Errorf("Deliver: %v %+v", err, res)
				return
			}
			delivered.Add(1)
		}
	}()
	defer func() { <-done }() // the deliverer never outlives the test
	search := func() ([]store.UID, bool) {
		uids, err := ts.SearchText(h.ctx, a, inbox, store.TextQuery{Needle: "MARMALADE"})
		if err != nil {
			t.Errorf("SearchText: %v", err)
		}
		return uids, err == nil
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		before := delivered.Load()
		got, ok := search()
		if !ok {
			return
		}
		if int64(len(got)) < before {
			t.Errorf("a search found %d messages, %d were delivered before it", len(got), before)
			return
		}
	}
	if got, _ := search(); len(got) != n {
		t.Errorf("after delivery: %d messages found, want %d", len(got), n)
	}
}
