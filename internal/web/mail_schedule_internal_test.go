package web

import (
	"testing"
	"time"
)

func TestScheduleTimeZone(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		zone *time.Location
		want time.Time // zero: refused
	}{
		{"2026-03-01T20:00", sh, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		{"2026-03-01T12:00:30", time.UTC, time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)},
		{"2026-03-01 10:58", time.UTC, time.Date(2026, 3, 1, 10, 58, 0, 0, time.UTC)}, // typed a moment ago: at once
		{"2026-03-01T12:00", sh, time.Time{}},                                         // 04:00 UTC: past
		{"2028-03-01T12:00", time.UTC, time.Time{}},                                   // over a year ahead
		{"tomorrow", time.UTC, time.Time{}},
		{"", time.UTC, time.Time{}},
	} {
		got, err := scheduleTime(uiPrefs{}, tc.in, tc.zone, now)
		if tc.want.IsZero() {
			if err == nil {
				t.Errorf("%q in %v: accepted %v, want refused", tc.in, tc.zone, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%q in %v: %v %v, want %v", tc.in, tc.zone, got, err, tc.want)
		}
	}
}

func TestQuoteHead(t *testing.T) {
	for in, want := range map[string]string{
		"":                                     "",
		"\n\nOn Mon, Ann wrote:\n> hi\n":       "On Mon, Ann wrote:",
		"\n\n-- \nSig\n\nOn Mon, Ann wrote:\n": "On Mon, Ann wrote:",
		"\n\n-- \nSig":                         "",
		"typed\n\n-- \nSig":                    "",
	} {
		if got := quoteHead(in); got != want {
			t.Errorf("quoteHead(%q) = %q, want %q", in, got, want)
		}
	}
}
