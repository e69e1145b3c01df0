package bayes

import (
	"cmp"
	"math"
	"slices"
)

// strongest returns the clues of the tokens whose probability is at least minStrength
// away from neutral, strongest first, at most maxDiscrimin of them. Ties break on the
// token so the result is deterministic.
func strongest(toks []string, counts []Counts, totals Counts) []Clue {
	clues := make([]Clue, 0, len(toks))
	for i, tok := range toks {
		f := tokenProb(counts[i], totals)
		if math.Abs(f-0.5) >= minStrength {
			clues = append(clues, Clue{Token: tok, Prob: f})
		}
	}
	slices.SortFunc(clues, func(a, b Clue) int {
		if c := cmp.Compare(math.Abs(b.Prob-0.5), math.Abs(a.Prob-0.5)); c != 0 {
			return c
		}
		return cmp.Compare(a.Token, b.Token)
	})
	return clues[:min(len(clues), maxDiscrimin)]
}

// tokenProb is Robinson's f(w): the token's spam probability from the ratio of the
// fractions of spam and ham containing it, pulled towards unknownProb when the token is
// rare. totals must be non-zero in both classes.
func tokenProb(c Counts, totals Counts) float64 {
	n := float64(c.Spam) + float64(c.Ham)
	if n == 0 {
		return unknownProb
	}
	// A token counted in more messages than were trained (counts saturated or the store
	// edited) is capped at a fraction of 1.
	spamRatio := min(float64(c.Spam)/float64(totals.Spam), 1)
	hamRatio := min(float64(c.Ham)/float64(totals.Ham), 1)
	p := spamRatio / (spamRatio + hamRatio)
	return (unknownStrength*unknownProb + n*p) / (unknownStrength + n)
}

// fisher combines clue probabilities with Fisher's method in Robinson's form (as
// SpamBayes's chi2_spamprob): each of "all clues are ham-like" and "all clues are
// spam-like" is tested as a chi-square hypothesis and the two are set against each other.
// Logarithms are summed directly, so hundreds of clues never underflow.
func fisher(clues []Clue) float64 {
	if len(clues) == 0 {
		return 0.5
	}
	var lnHam, lnSpam float64
	for _, c := range clues {
		lnHam += math.Log(c.Prob)
		lnSpam += math.Log1p(-c.Prob)
	}
	k := 2 * len(clues)
	spam := 1 - chi2Q(-2*lnSpam, k)
	ham := 1 - chi2Q(-2*lnHam, k)
	return (1 + spam - ham) / 2
}

// chi2Q is the chi-square survival function Q(x2 | v) for an even number of degrees of
// freedom v: the probability that a chi-square variable exceeds x2. For even v it is the
// finite series e^(-m) * Σ_{i<v/2} m^i / i!, m = x2/2.
func chi2Q(x2 float64, v int) float64 {
	m := x2 / 2
	term := math.Exp(-m)
	sum := term
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
	}
	return min(sum, 1)
}
