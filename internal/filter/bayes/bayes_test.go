package bayes

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
)

func train(t testing.TB, c *Classifier, msgs []corpusMsg) {
	t.Helper()
	for _, m := range msgs {
		class := Ham
		if m.spam {
			class = Spam
		}
		if err := c.Train(context.Background(), bytes.NewReader(m.raw), class); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHeldOutAccuracy trains on 70% of a generated corpus and classifies the other 30%
// at the default level. The held-out set is balanced, so chance (and the majority-class
// baseline) is 50%; the stated margin is that accuracy is at least 90% and at least ten
// standard errors of a coin-flipping classifier (sqrt(0.25/n), 3.7 points for n = 180)
// above chance.
func TestHeldOutAccuracy(t *testing.T) {
	ctx := context.Background()
	corpus := generateCorpus(1, 300)
	split := len(corpus) * 7 / 10
	store := NewMemStore()
	c := New(store, Options{})
	train(t, c, corpus[:split])

	held := corpus[split:]
	var correct, fp, fn, unsure int
	for _, m := range held {
		v, err := c.Classify(ctx, bytes.NewReader(m.raw))
		if err != nil {
			t.Fatal(err)
		}
		if !v.Ready {
			t.Fatalf("classifier trained on %d messages is not ready", split)
		}
		if v.Prob > 0.2 && v.Prob < 0.9 {
			unsure++
		}
		switch got := v.IsSpam(DefaultLevel); {
		case got == m.spam:
			correct++
		case got:
			fp++
		default:
			fn++
		}
	}
	n := float64(len(held))
	acc := float64(correct) / n
	se := math.Sqrt(0.25 / n)
	t.Logf("held out %d: accuracy %.1f%% (false positives %d, false negatives %d, unsure band %d), %.1f standard errors above chance; store: %d tokens",
		len(held), 100*acc, fp, fn, unsure, (acc-0.5)/se, store.Len())
	if acc < 0.90 {
		t.Errorf("accuracy %.3f, want >= 0.90", acc)
	}
	if (acc-0.5)/se < 10 {
		t.Errorf("accuracy %.3f is only %.1f standard errors above chance, want >= 10", acc, (acc-0.5)/se)
	}
	if fp > len(held)/50 {
		t.Errorf("%d false positives on %d held-out messages, want <= 2%%", fp, len(held))
	}
}

// TestUntrainRestoresExactly trains, snapshots, trains more, untrains that again: the
// serialised store is byte for byte the snapshot. Untraining everything empties it.
func TestUntrainRestoresExactly(t *testing.T) {
	ctx := context.Background()
	corpus := generateCorpus(2, 40)
	store := NewMemStore()
	c := New(store, Options{})
	train(t, c, corpus[:50])
	before, err := store.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	train(t, c, corpus[50:])
	for _, m := range corpus[50:] {
		class := Ham
		if m.spam {
			class = Spam
		}
		if err := c.Untrain(ctx, bytes.NewReader(m.raw), class); err != nil {
			t.Fatal(err)
		}
	}
	after, err := store.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatalf("untrain did not restore the store: %d bytes before, %d after", len(before), len(after))
	}

	// A message moved out of Junk: untrain spam, train ham; and back.
	moved := corpus[0]
	for _, step := range []struct {
		class Class
		delta int
	}{{Spam, 1}, {Spam, -1}, {Ham, 1}, {Ham, -1}} {
		toks, err := Tokenize(bytes.NewReader(moved.raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.UpdateTokens(ctx, toks, step.class, step.delta); err != nil {
			t.Fatal(err)
		}
	}
	if after, _ = store.MarshalBinary(); !bytes.Equal(before, after) {
		t.Fatal("train/untrain round trip changed the store")
	}

	for _, m := range corpus[:50] {
		class := Ham
		if m.spam {
			class = Spam
		}
		if err := c.Untrain(ctx, bytes.NewReader(m.raw), class); err != nil {
			t.Fatal(err)
		}
	}
	if tot, _ := store.Totals(ctx); store.Len() != 0 || tot != (Counts{}) {
		t.Fatalf("after untraining everything: %d tokens, totals %+v", store.Len(), tot)
	}
}

// TestNotReady: with too little training the classifier abstains at every level.
func TestNotReady(t *testing.T) {
	ctx := context.Background()
	corpus := generateCorpus(3, 10)
	c := New(NewMemStore(), Options{})
	train(t, c, corpus)
	v, err := c.Classify(ctx, bytes.NewReader(corpus[0].raw))
	if err != nil {
		t.Fatal(err)
	}
	// It abstains without reading the message (Tokens 0): the tokeniser is the costly part
	// and most accounts never train.
	if v.Ready || v.Prob != 0.5 || v.IsSpam(LevelHigh) || v.Tokens != 0 {
		t.Fatalf("verdict with 10+10 trained (minimum %d): %+v", MinTrained, v)
	}
	c = New(c.store, Options{MinTrained: 5})
	if v, _ = c.Classify(ctx, bytes.NewReader(corpus[0].raw)); !v.Ready {
		t.Fatalf("MinTrained 5 with 10+10 trained: not ready")
	}
}

// TestClues: the clues of a clear spam are spam-side tokens, strongest first.
func TestClues(t *testing.T) {
	ctx := context.Background()
	corpus := generateCorpus(4, 100)
	c := New(NewMemStore(), Options{})
	train(t, c, corpus)
	raw := "From: Prize Department <win@win-big.example>\r\nTo: user@mailgrid.example\r\n" +
		"Subject: CONGRATULATIONS WINNER CLAIM PRIZE!!\r\n\r\nclaim your cash prize now, lottery winner " +
		"bonus casino https://www.lucky-lotto.example/claim\r\n"
	v, err := c.Classify(ctx, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !v.IsSpam(LevelLow) || len(v.Clues) == 0 || len(v.Clues) > MaxClues {
		t.Fatalf("verdict %+v", v)
	}
	for i, cl := range v.Clues {
		if i > 0 && math.Abs(cl.Prob-0.5) > math.Abs(v.Clues[i-1].Prob-0.5) {
			t.Errorf("clue %d (%v) stronger than clue %d (%v)", i, cl, i-1, v.Clues[i-1])
		}
	}
	if v.Clues[0].Prob < 0.9 {
		t.Errorf("strongest clue %+v is not spam-side", v.Clues[0])
	}
	t.Logf("p=%.4f clues %v", v.Prob, v.Clues[:5])
}

func TestFisher(t *testing.T) {
	clues := func(p float64, n int) []Clue {
		out := make([]Clue, n)
		for i := range out {
			out[i] = Clue{Prob: p}
		}
		return out
	}
	if p := fisher(clues(0.99, 20)); p < 0.99 {
		t.Errorf("20 clues of 0.99: %v", p)
	}
	if p := fisher(clues(0.01, 20)); p > 0.01 {
		t.Errorf("20 clues of 0.01: %v", p)
	}
	if p := fisher(append(clues(0.9, 10), clues(0.1, 10)...)); math.Abs(p-0.5) > 1e-9 {
		t.Errorf("balanced clues: %v", p)
	}
	if p := fisher(clues(0.999, 150)); p < 0.999 || math.IsNaN(p) {
		t.Errorf("150 strong clues underflow: %v", p)
	}
	if p := fisher(nil); p != 0.5 {
		t.Errorf("no clues: %v", p)
	}
	if q := chi2Q(2, 2); math.Abs(q-math.Exp(-1)) > 1e-12 {
		t.Errorf("Q(2|2) = %v, want e^-1", q)
	}
	if q := chi2Q(0, 10); q != 1 {
		t.Errorf("Q(0|10) = %v", q)
	}
	// Robinson's f: an unseen token is neutral, a token seen once leans (S*X + n*p)/(S + n).
	tot := Counts{Spam: 100, Ham: 100}
	if f := tokenProb(Counts{}, tot); f != 0.5 {
		t.Errorf("unseen: %v", f)
	}
	if f, want := tokenProb(Counts{Spam: 1}, tot), (0.45*0.5+1)/(0.45+1); math.Abs(f-want) > 1e-12 {
		t.Errorf("seen once in spam: %v, want (S*X + 1)/(S + 1) = %v", f, want)
	}
	if f := tokenProb(Counts{Spam: 50}, tot); f < 0.99 {
		t.Errorf("seen 50 times in spam: %v", f)
	}
}

func TestLevels(t *testing.T) {
	v := Verdict{Ready: true, Prob: 0.95}
	for _, c := range []struct {
		l    Level
		name string
		spam bool
	}{{LevelOff, "off", false}, {LevelLow, "low", false}, {LevelMedium, "medium", true}, {LevelHigh, "high", true}} {
		if got := v.IsSpam(c.l); got != c.spam {
			t.Errorf("p=0.95 at %v: spam %v, want %v", c.l, got, c.spam)
		}
		b, err := c.l.MarshalText()
		if err != nil || string(b) != c.name {
			t.Errorf("MarshalText(%d) = %q, %v", c.l, b, err)
		}
		var back Level
		if err := back.UnmarshalText(b); err != nil || back != c.l {
			t.Errorf("UnmarshalText(%q) = %v, %v", b, back, err)
		}
	}
	lo, _ := LevelLow.Threshold()
	md, _ := LevelMedium.Threshold()
	hi, _ := LevelHigh.Threshold()
	if !(lo > md && md > hi) {
		t.Errorf("thresholds not ordered: low %v medium %v high %v", lo, md, hi)
	}
	if _, err := ParseLevel("extreme"); err == nil {
		t.Error("ParseLevel accepted an unknown level")
	}
	if _, err := Level(9).MarshalText(); err == nil {
		t.Error("MarshalText accepted an unknown level")
	}
}
