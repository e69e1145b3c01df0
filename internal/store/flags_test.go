package store

import (
	"errors"
	"slices"
	"testing"
)

func TestNormalizeFlags(t *testing.T) {
	for _, c := range []struct {
		in, want []string
	}{
		{nil, []string{}},
		{[]string{`\seen`, `\SEEN`, `\Flagged`}, []string{`\Flagged`, `\Seen`}},
		{[]string{`\Recent`, `\recent`}, []string{}},
		{[]string{"$Junk", "$junk", `\draft`, `\ANSWERED`, `\deleted`}, []string{"$Junk", `\Answered`, `\Deleted`, `\Draft`}},
		{[]string{"b", "a", "B"}, []string{"a", "b"}},
	} {
		got, err := NormalizeFlags(c.in)
		if err != nil || got == nil || !slices.Equal(got, c.want) {
			t.Errorf("NormalizeFlags(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range [][]string{
		{`\Unknown`}, {""}, {"a b"}, {"a(b"}, {"a]"}, {"a*"}, {`a"`}, {"a%"}, {"a{"}, {"é"}, {"\x7f"},
		{string(make([]byte, 256))}, {"ok", `\Nope`},
	} {
		if got, err := NormalizeFlags(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("NormalizeFlags(%q) = %q, %v; want ErrInvalid", bad, got, err)
		}
	}
	long := make([]byte, 255)
	for i := range long {
		long[i] = 'k'
	}
	if _, err := NormalizeFlags([]string{string(long)}); err != nil {
		t.Errorf("255-byte keyword: %v", err)
	}
}

func TestApplyFlags(t *testing.T) {
	cur := []string{"$Work", `\Seen`}
	for _, c := range []struct {
		op          FlagOp
		flags, want []string
	}{
		{FlagsSet, []string{`\Flagged`}, []string{`\Flagged`}},
		{FlagsSet, []string{}, []string{}},
		{FlagsAdd, []string{"$work", `\Answered`}, []string{"$Work", `\Answered`, `\Seen`}},
		{FlagsRemove, []string{"$WORK"}, []string{`\Seen`}},
		{FlagsRemove, []string{"$Work", `\Seen`}, []string{}},
		{FlagsRemove, []string{"$Other"}, []string{"$Work", `\Seen`}},
	} {
		got := ApplyFlags(cur, c.op, c.flags)
		if got == nil || !slices.Equal(got, c.want) {
			t.Errorf("ApplyFlags(%q, %d, %q) = %q, want %q", cur, c.op, c.flags, got, c.want)
		}
	}
	if !slices.Equal(cur, []string{"$Work", `\Seen`}) {
		t.Errorf("ApplyFlags changed its input: %q", cur)
	}
}

func TestSameFlagsHasSeen(t *testing.T) {
	if !SameFlags([]string{"$A", `\Seen`}, []string{"$a", `\Seen`}) || SameFlags([]string{"$A"}, []string{"$A", "$B"}) {
		t.Error("SameFlags")
	}
	if !HasSeen([]string{"$A", `\Seen`}) || HasSeen([]string{`\Flagged`}) || HasSeen(nil) {
		t.Error("HasSeen")
	}
}
