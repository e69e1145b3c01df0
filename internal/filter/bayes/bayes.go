// Package bayes is mailgrid's per-user Bayesian spam classifier: a token-based naive Bayes
// with Gary Robinson's per-token probabilities and Fisher's chi-square combining, the
// method of SpamBayes and bogofilter (and close to SpamAssassin's Bayes plugin).
//
// Model. A message becomes a set of distinct tokens (Tokenize): words of the decoded text
// parts (HTML reduced to text), prefixed words and hosts of the main header fields
// ("subject:free", "from:host:example.com"), URL hosts ("url:example.com"), and a few
// structural tokens ("part:text/html", "filename:ext:.exe"). Training a message as spam or
// ham adds one to that class's count of each of its tokens and to the class's message
// total; untraining subtracts the same, so a message moved back out of Junk leaves the
// counts exactly as before. Classification computes, for each token of the message,
//
//	p(w) = (s/nspam) / (s/nspam + h/nham)             s, h: spam and ham messages with w
//	f(w) = (S*X + n*p(w)) / (S + n)                   n = s + h (Robinson's adjustment)
//
// with S = 0.45 and X = 0.5 (an unseen token is neutral), keeps the tokens whose f is at
// least 0.1 away from 0.5 (the 150 strongest), and combines them with Fisher's method:
//
//	Sp = 1 - Q(-2 Σ ln(1-f), 2k)    Hp = 1 - Q(-2 Σ ln f, 2k)    score = (1 + Sp - Hp) / 2
//
// where Q is the chi-square survival function with 2k degrees of freedom (combine.go).
// The score is near 1 for spam, near 0 for ham, and near 0.5 when the evidence is weak
// or conflicting.
//
// Storage. Counts live behind TokenStore (get counts for a batch of tokens, add a
// message's tokens to a class, totals), one store per user. MemStore is the in-memory
// implementation, with a compact, checksummed serialisation so the account store can hold
// a user's data as one blob.
//
// Spam level. Each user (or domain default) picks a Level: off, low, medium or high; the
// level is the probability from which a message is spam (Level.Threshold). A classifier
// with fewer than MinTrained messages in either class abstains (Verdict.Ready false).
//
// Training is the caller's bookkeeping: when a user moves a message into Junk, train it as
// spam; out of Junk, untrain spam and train ham. The caller records which class a message
// was trained as (the IMAP keywords $Junk / $NotJunk, RFC 9051 2.3.2) so it never trains one
// message twice, and untrains with the same bytes it trained with.
//
// Libraries: none for the classifier (no Go Bayesian library is available to us; the
// method is small). Parsing uses mailgrid's message package for the MIME tree and
// github.com/emersion/go-message/charset for legacy charsets; the rest is the standard
// library.
package bayes

import (
	"context"
	"fmt"
	"io"
)

// Message is what the classifier reads: the raw RFC 5322 message, rereadable
// (message.Spool and the store's bodies satisfy it).
type Message interface {
	io.ReaderAt
	Size() int64
}

// Class is what a message is trained as.
type Class uint8

// The two classes.
const (
	Ham Class = iota
	Spam
)

func (c Class) String() string {
	if c == Spam {
		return "spam"
	}
	return "ham"
}

// Tuning, as SpamBayes's defaults.
const (
	unknownStrength = 0.45 // S: weight of the prior X for a token seen n times
	unknownProb     = 0.5  // X: probability of a token never seen
	minStrength     = 0.1  // tokens with |f-0.5| below this are ignored
	maxDiscrimin    = 150  // at most this many strongest tokens are combined
	MaxClues        = 15   // clues reported in a Verdict
	MinTrained      = 20   // default minimum of trained messages per class before judging
)

// Options tune a Classifier; the zero value is the default.
type Options struct {
	// MinTrained is the number of spam and of ham messages that must have been trained
	// before Classify judges (default MinTrained). With less the verdict is not Ready.
	MinTrained int
}

// Classifier classifies and trains one user's messages against that user's TokenStore.
// It is safe for concurrent use if its store is.
type Classifier struct {
	store      TokenStore
	minTrained uint32
}

// New returns a classifier over store.
func New(store TokenStore, opts Options) *Classifier {
	n := opts.MinTrained
	if n <= 0 {
		n = MinTrained
	}
	return &Classifier{store: store, minTrained: uint32(n)}
}

// Verdict is the result of Classify.
type Verdict struct {
	Prob   float64 // probability of spam, 0..1; 0.5 when not Ready
	Ready  bool    // enough training in both classes to judge
	Tokens int     // distinct tokens in the message (0 when an untrained classifier abstained unread)
	Clues  []Clue  // strongest evidence first, at most MaxClues
}

// Clue is one token's evidence: its spam probability f(w).
type Clue struct {
	Token string
	Prob  float64
}

// IsSpam reports whether the verdict counts as spam at the user's level. A verdict that
// is not Ready is never spam.
func (v Verdict) IsSpam(l Level) bool {
	t, on := l.Threshold()
	return on && v.Ready && v.Prob >= t
}

// Classify tokenises msg and scores it.
func (c *Classifier) Classify(ctx context.Context, msg Message) (Verdict, error) {
	// An untrained classifier abstains whatever the message says: answer before the
	// tokeniser reads it (most accounts never train, and this runs on every delivery).
	totals, err := c.store.Totals(ctx)
	if err != nil {
		return Verdict{}, fmt.Errorf("bayes: totals: %w", err)
	}
	if totals.Spam < c.minTrained || totals.Ham < c.minTrained {
		return Verdict{Prob: 0.5}, nil
	}
	toks, err := Tokenize(msg)
	if err != nil {
		return Verdict{}, err
	}
	return c.ClassifyTokens(ctx, toks)
}

// ClassifyTokens scores a message already tokenised (by Tokenize).
func (c *Classifier) ClassifyTokens(ctx context.Context, toks []string) (Verdict, error) {
	totals, err := c.store.Totals(ctx)
	if err != nil {
		return Verdict{}, fmt.Errorf("bayes: totals: %w", err)
	}
	v := Verdict{Prob: 0.5, Tokens: len(toks)}
	if totals.Spam < c.minTrained || totals.Ham < c.minTrained {
		return v, nil
	}
	counts, err := c.store.Get(ctx, toks)
	if err != nil {
		return Verdict{}, fmt.Errorf("bayes: counts: %w", err)
	}
	clues := strongest(toks, counts, totals)
	v.Ready = true
	v.Prob = fisher(clues)
	v.Clues = clues[:min(len(clues), MaxClues)]
	return v, nil
}

// Train adds msg to class.
func (c *Classifier) Train(ctx context.Context, msg Message, class Class) error {
	return c.update(ctx, msg, class, 1)
}

// Untrain removes msg from class, undoing an earlier Train of the same message exactly.
func (c *Classifier) Untrain(ctx context.Context, msg Message, class Class) error {
	return c.update(ctx, msg, class, -1)
}

func (c *Classifier) update(ctx context.Context, msg Message, class Class, delta int) error {
	toks, err := Tokenize(msg)
	if err != nil {
		return err
	}
	return c.UpdateTokens(ctx, toks, class, delta)
}

// UpdateTokens trains (delta 1) or untrains (delta -1) a message already tokenised.
func (c *Classifier) UpdateTokens(ctx context.Context, toks []string, class Class, delta int) error {
	spam, ham := 0, delta
	if class == Spam {
		spam, ham = delta, 0
	}
	if err := c.store.Add(ctx, toks, spam, ham); err != nil {
		return fmt.Errorf("bayes: train %s: %w", class, err)
	}
	return nil
}
