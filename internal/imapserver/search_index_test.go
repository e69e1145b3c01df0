package imapserver_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/imapserver"
	"mailgrid/internal/store"
)

// scanOnly hides the driver's store.TextSearcher, so the server falls back to the scan.
type scanOnly struct{ store.Store }

// searchWords are the vocabulary of the generated messages.
var searchWords = []string{"apple", "Banana", "cherry", "DATE", "elder", "fig", "grape", "honeydew",
	"kiwi", "lemon", "mango", "nectarine", "olive", "papaya", "quince", "straße", "über", "ÉCLAIR"}

// fillMailbox delivers n generated messages (plain, quoted-printable and HTML) to the
// user's INBOX with 20 concurrent deliveries.
func fillMailbox(t testing.TB, w *world, n int) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for m := int(next.Add(1)); m <= n; m = int(next.Add(1)) {
				var words []string
				for k := range 8 + m%23 {
					words = append(words, searchWords[(m*7+k*k)%len(searchWords)])
				}
				text := strings.Join(words, " ")
				var msg string
				switch m % 3 {
				case 0:
					msg = fmt.Sprintf("From: s%d@example.org\nSubject: note %d\n\n%s\n", m%5, m, text)
				case 1:
					msg = fmt.Sprintf("From: s%d@example.org\nSubject: =?UTF-8?Q?n=C3=B6te?= %d\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n%s\n",
						m%5, m, strings.NewReplacer("ß", "=C3=9F", "ü", "=C3=BC", "É", "=C3=89").Replace(text))
				default:
					msg = fmt.Sprintf("From: s%d@example.org\nSubject: html %d\nContent-Type: text/html; charset=utf-8\n\n<div>%s</div><b>ki</b>wi\n", m%5, m, text)
				}
				body := bytesBody(strings.ReplaceAll(msg, "\n", "\r\n"))
				res, err := w.st.Deliver(context.Background(), store.Delivery{Body: body,
					Targets: []store.DeliveryTarget{{Account: ref(w.user), Flags: seenIf(m%4 == 0)}}})
				if err != nil || res[0].Err != nil {
					t.Errorf("deliver: %v %v", err, res)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

func seenIf(b bool) []string {
	if b {
		return []string{store.FlagSeen}
	}
	return nil
}

// TestSearchTextIndex runs BODY and TEXT searches over 3,000 messages on a server whose
// store has the text index and on one that scans, and checks they agree with each other
// and with counts known from the generated text.
func TestSearchTextIndex(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 600
	}
	w := newWorld(t)
	fillMailbox(t, w, n)
	_, indexed := w.server(t, nil)
	_, scanned := w.server(t, func(o *imapserver.Options) {
		o.Shards = shards{directory.LocalShard: scanOnly{w.st}}
	})
	ci, cs := login(t, indexed), login(t, scanned)
	ci.ok("SELECT INBOX")
	cs.ok("SELECT INBOX")
	queries := []string{
		"UID SEARCH BODY apple",
		"UID SEARCH BODY BANANA",                    // case-insensitive
		"UID SEARCH BODY \"straße über\"",           // quoted-printable UTF-8, two words
		"UID SEARCH BODY \"ÉCLAIR apple\"",          // non-ASCII case folding
		"UID SEARCH BODY kiwi",                      // HTML: "<b>ki</b>wi" is kiwi too
		"UID SEARCH BODY \"</div>\"",                // markup is not text
		"UID SEARCH BODY ig",                        // shorter than a trigram
		"UID SEARCH TEXT \"nöte\"",                  // RFC 2047 subject
		"UID SEARCH BODY \"nöte\"",                  // not in any body
		"UID SEARCH TEXT s3@example.org",            // a header field
		"UID SEARCH BODY mango UNSEEN",              // with a flag key
		"UID SEARCH OR BODY quince TEXT \"html 7\"", // under OR
		"UID SEARCH NOT BODY lemon",                 // under NOT
		"SEARCH BODY papaya 1:100",                  // sequence numbers
		"UID SEARCH RETURN (COUNT MIN MAX) BODY olive",
		"UID SEARCH BODY nothing-like-this",
	}
	for _, q := range queries {
		ui := ci.ok(q)
		us := cs.ok(q)
		if strings.Join(ui, "\n") != strings.Join(us, "\n") {
			t.Errorf("%s: index and scan differ:\nindex %.300q\nscan  %.300q", q, ui, us)
		}
	}
	// Counts from the generator: "apple" is word 0, in message m when (m*7+k*k)%18 == 0
	// for some k < 8+m%23.
	want := 0
	for m := 1; m <= n; m++ {
		for k := range 8 + m%23 {
			if (m*7+k*k)%len(searchWords) == 0 {
				want++
				break
			}
		}
	}
	u := ci.ok("UID SEARCH RETURN (COUNT) BODY apple")
	if !contains(u, fmt.Sprintf("COUNT %d", want)) {
		t.Errorf("BODY apple: %q, want COUNT %d", u, want)
	}
	// A message delivered now is found by the next search (the index catches up).
	w.deliver(t, w.user, "INBOX", "Subject: fresh\n\nzucchini\n")
	ci.ok("NOOP")
	if u := ci.ok("UID SEARCH BODY zucchini"); !contains(u, fmt.Sprintf("SEARCH %d", n+1)) {
		t.Errorf("new message: %q", u)
	}
}

// BenchmarkSearchText measures UID SEARCH BODY over an INBOX of 10,000 messages with the
// store's text index (after the first search built it; the build time is logged with -v)
// and with the scan: a word in most messages, two words in about 2%, a two-letter needle
// (no trigram) and a needle found nowhere.
//
//	go test -run XXX -bench SearchText -benchtime 20x -v ./internal/imapserver
func BenchmarkSearchText(b *testing.B) {
	const messages = 10000
	w := newWorld(b)
	fillMailbox(b, w, messages)
	_, addr := w.server(b, nil)
	c := login(b, addr)
	c.ok("SELECT INBOX")
	start := time.Now()
	c.ok("UID SEARCH BODY warmup")
	b.Logf("first search (builds the index of %d messages): %v", messages, time.Since(start))
	_, scanAddr := w.server(b, func(o *imapserver.Options) {
		o.Shards = shards{directory.LocalShard: scanOnly{w.st}}
	})
	cs := login(b, scanAddr)
	cs.ok("SELECT INBOX")
	needles := []struct{ name, arg string }{
		{"common", "nectarine"}, {"rare", `"straße über"`}, {"short", "ig"}, {"none", "nothing-like-this"},
	}
	for _, n := range needles {
		b.Run("index/"+n.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				c.ok("UID SEARCH BODY " + n.arg)
			}
		})
	}
	b.Run("scan/rare", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			cs.ok("UID SEARCH BODY " + needles[1].arg)
		}
	})
}
