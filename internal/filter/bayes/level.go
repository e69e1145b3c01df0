package bayes

import "fmt"

// Level is a user's (or a domain's default) spam level: how readily a message is judged
// spam. Higher levels catch more spam and risk more false positives.
type Level uint8

// Levels and the probability from which a message is spam (Threshold):
//
//	off     never (the classifier still learns from moves in and out of Junk)
//	low     0.99  only near-certain spam (bogofilter's spam_cutoff; SpamAssassin BAYES_99)
//	medium  0.90  SpamBayes's default spam_cutoff; the default level
//	high    0.75  aggressive: also what the evidence leans to clearly
const (
	LevelOff Level = iota
	LevelLow
	LevelMedium
	LevelHigh
)

// DefaultLevel is the level of a user and domain that never chose one.
const DefaultLevel = LevelMedium

var levelNames = [...]string{"off", "low", "medium", "high"}

// Threshold returns the spam probability from which a message is spam at level l, and
// false for LevelOff (or an unknown level).
func (l Level) Threshold() (float64, bool) {
	switch l {
	case LevelLow:
		return 0.99, true
	case LevelMedium:
		return 0.90, true
	case LevelHigh:
		return 0.75, true
	}
	return 0, false
}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("Level(%d)", uint8(l))
}

// ParseLevel parses "off", "low", "medium" or "high".
func ParseLevel(s string) (Level, error) {
	for i, n := range levelNames {
		if s == n {
			return Level(i), nil
		}
	}
	return 0, fmt.Errorf("bayes: unknown spam level %q (want off, low, medium or high)", s)
}

// MarshalText implements encoding.TextMarshaler (for config files and JSON).
func (l Level) MarshalText() ([]byte, error) {
	if int(l) >= len(levelNames) {
		return nil, fmt.Errorf("bayes: unknown spam level %d", uint8(l))
	}
	return []byte(l.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
