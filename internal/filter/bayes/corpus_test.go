package bayes

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
)

// The test corpus is generated: two vocabularies (spam-like, ham-like) that overlap, a
// shared vocabulary of common words, random noise words, and a share of deliberately
// ambiguous messages in each class that mostly use the other class's words. Messages come
// in the shapes real mail has (plain, quoted-printable, base64, HTML alone or in
// multipart/alternative, with URLs), so training and classification go through every
// tokeniser path. The PRNG is seeded: the corpus is the same on every run.

var (
	commonWords = strings.Fields(`the and you your this that with for have will please today
		time information here more about new just can get know make like good all one now see
		look email message thanks hello best regards week need help would could there their
		what when which other into some them than then only also back after first well even
		want because any these give most people year way day thing`)
	spamWords = strings.Fields(`free winner prize cash money offer discount viagra pills casino
		bonus loan credit guaranteed limited exclusive deal cheap million investment bitcoin
		crypto earn income unsubscribe click buy order rolex replica pharmacy weight lose dating
		singles urgent claim congratulations selected lottery inheritance beneficiary transfer
		bank account verify password suspended act instantly miracle amazing wealth debt
		refinance mortgage rates satisfaction risk opportunity`)
	hamWords = strings.Fields(`meeting project schedule report review agenda budget deadline
		draft attached minutes quarterly lunch dinner weekend family kids birthday patch commit
		release server deploy build test bug issue merge branch proposal contract customer
		roadmap design document slides notes call tomorrow office vacation holiday doctor
		school homework garden recipe photos trip flight hotel conference account order
		transfer bank free offer`)
	spamDomains = []string{"deals-now.example", "best-pharma.example", "win-big.example",
		"cheap-meds.example", "crypto-riches.example", "lucky-lotto.example", "secure-verify.example",
		"promo-mail.example", "bulk-offers.example", "hotsingles.example"}
	hamDomains = []string{"example.com", "example.org", "corp.example", "university.example",
		"family.example", "dev.example", "partner.example"}
	hamNames  = []string{"Alice Martin", "Bob Chen", "Carol Diaz", "Dave Okafor", "Eve Novak", "Frank Ito"}
	spamNames = []string{"Prize Department", "Customer Service", "Dr. Smith", "Lucky Winner Team", "Security Team", ""}
)

type corpusMsg struct {
	raw  []byte
	spam bool
}

// generateCorpus returns n spam and n ham messages, shuffled.
func generateCorpus(seed uint64, n int) []corpusMsg {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var out []corpusMsg
	for i := range 2 * n {
		spam := i%2 == 0
		out = append(out, corpusMsg{raw: generateMessage(rng, i, spam), spam: spam})
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// wordMix is the probability of drawing from the own class's vocabulary, the other's,
// and random noise; the rest comes from the common words.
type wordMix struct{ own, other, noise float64 }

func pickWords(rng *rand.Rand, n int, spam bool, mix wordMix) []string {
	own, other := hamWords, spamWords
	if spam {
		own, other = spamWords, hamWords
	}
	words := make([]string, n)
	for i := range words {
		switch r := rng.Float64(); {
		case r < mix.own:
			words[i] = own[rng.IntN(len(own))]
		case r < mix.own+mix.other:
			words[i] = other[rng.IntN(len(other))]
		case r < mix.own+mix.other+mix.noise:
			words[i] = noiseWord(rng)
		default:
			words[i] = commonWords[rng.IntN(len(commonWords))]
		}
	}
	return words
}

func noiseWord(rng *rand.Rand) string {
	b := make([]byte, 4+rng.IntN(7))
	for i := range b {
		b[i] = byte('a' + rng.IntN(26))
	}
	return string(b)
}

func generateMessage(rng *rand.Rand, i int, spam bool) []byte {
	mix := wordMix{own: 0.25, other: 0.04, noise: 0.10}
	if rng.Float64() < 0.08 { // ambiguous: reads mostly like the other class
		mix = wordMix{own: 0.06, other: 0.20, noise: 0.10}
	}
	subject := strings.Join(pickWords(rng, 3+rng.IntN(5), spam, mix), " ")
	body := pickWords(rng, 30+rng.IntN(90), spam, mix)
	var from, name, msgHost string
	if spam {
		from, name = spamDomains[rng.IntN(len(spamDomains))], spamNames[rng.IntN(len(spamNames))]
		if rng.Float64() < 0.15 { // spoofed ham-side sender
			from = hamDomains[rng.IntN(len(hamDomains))]
		}
		msgHost = spamDomains[rng.IntN(len(spamDomains))]
		subject = strings.ToUpper(subject[:1]) + subject[1:]
		if rng.Float64() < 0.3 {
			subject = strings.ToUpper(subject) + "!!"
		}
	} else {
		from, name = hamDomains[rng.IntN(len(hamDomains))], hamNames[rng.IntN(len(hamNames))]
		msgHost = from
	}
	var h bytes.Buffer
	fmt.Fprintf(&h, "From: %s <%s@%s>\r\n", name, strings.ToLower(strings.Fields(name + " info")[0]), from)
	fmt.Fprintf(&h, "To: user@mailgrid.example\r\nSubject: %s\r\n", subject)
	fmt.Fprintf(&h, "Date: Mon, 2 Mar 2026 10:%02d:00 +0000\r\nMessage-ID: <%d.%d@%s>\r\n", i%60, i, rng.IntN(1e6), msgHost)
	fmt.Fprintf(&h, "MIME-Version: 1.0\r\n")
	text := wrap(body)
	if rng.Float64() < 0.5 {
		text += "\r\n" + randomURL(rng, spam) + "\r\n"
	}
	htmlShare := 0.1
	if spam {
		htmlShare = 0.5
	}
	switch r := rng.Float64(); {
	case r < htmlShare:
		writeHTML(&h, rng, text)
	case r < htmlShare+0.2 && spam:
		fmt.Fprintf(&h, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n%s", b64Lines(text))
	case r < htmlShare+0.2:
		fmt.Fprintf(&h, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s", qp(text))
	default:
		fmt.Fprintf(&h, "Content-Type: text/plain; charset=us-ascii\r\n\r\n%s", text)
	}
	return h.Bytes()
}

func randomURL(rng *rand.Rand, spam bool) string {
	if spam {
		return fmt.Sprintf("https://www.%s/%s?id=%d", spamDomains[rng.IntN(len(spamDomains))], noiseWord(rng), rng.IntN(1e5))
	}
	return fmt.Sprintf("https://%s/%s", hamDomains[rng.IntN(len(hamDomains))], noiseWord(rng))
}

// writeHTML writes an HTML body, alone or as multipart/alternative with its text.
func writeHTML(h *bytes.Buffer, rng *rand.Rand, text string) {
	var html strings.Builder
	html.WriteString("<html><head><style>p{color:red}</style></head><body>")
	for _, para := range strings.Split(text, "\r\n") {
		if strings.HasPrefix(para, "https://") {
			fmt.Fprintf(&html, `<p><a href="%s">click &amp; see</a></p>`, para)
			continue
		}
		fmt.Fprintf(&html, "<p><font size=3>%s</font></p>", para)
	}
	html.WriteString(`<img src="https://cdn.example.net/p.gif"></body></html>`)
	if rng.IntN(2) == 0 {
		fmt.Fprintf(h, "Content-Type: text/html; charset=utf-8\r\n\r\n%s\r\n", html.String())
		return
	}
	fmt.Fprintf(h, "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n"+
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n--b1--\r\n", text, qp(html.String()))
}

func wrap(words []string) string {
	var b strings.Builder
	for i, w := range words {
		switch {
		case i == 0:
		case i%12 == 0:
			b.WriteString("\r\n")
		default:
			b.WriteByte(' ')
		}
		b.WriteString(w)
	}
	return b.String() + "\r\n"
}

func b64Lines(s string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	return b.String() + enc + "\r\n"
}

func qp(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		panic(err) // writing to a bytes.Buffer cannot fail
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return b.String()
}
