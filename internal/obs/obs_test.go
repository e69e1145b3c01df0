package obs

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestNewLoggerLevelAndFormat(t *testing.T) {
	var b bytes.Buffer
	log := NewLogger(&b, "warn", "json")
	log.Info("hidden")
	log.Warn("shown", "k", "v")
	out := b.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, `"msg":"shown"`) || !strings.Contains(out, `"k":"v"`) {
		t.Fatalf("output %q", out)
	}
}

func TestCheck(t *testing.T) {
	var b bytes.Buffer
	log := NewLogger(&b, "debug", "text")
	Check(log, nil, "nothing")
	Check(log, errors.New("boom"), "close failed", "file", "x")
	Check(nil, errors.New("boom"), "no logger") // must not panic
	if strings.Contains(b.String(), "nothing") || !strings.Contains(b.String(), "close failed") || !strings.Contains(b.String(), "boom") {
		t.Fatalf("output %q", b.String())
	}
}

func TestNewIDUniqueAndShort(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if len(id) != 13 || strings.ToLower(id) != id || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}
