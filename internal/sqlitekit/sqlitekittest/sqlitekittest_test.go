package sqlitekittest_test

import (
	"testing"

	"mailgrid/internal/sqlitekit/sqlitekittest"
)

// One test gets one directory however often it asks; another test gets another.
func TestPerTest(t *testing.T) {
	var dirs sqlitekittest.PerTest
	var first string
	t.Run("a", func(t *testing.T) {
		first = dirs.Dir(t)
		if again := dirs.Dir(t); again != first || first == "" {
			t.Errorf("second call %q, first %q", again, first)
		}
	})
	t.Run("b", func(t *testing.T) {
		if d := dirs.Dir(t); d == first {
			t.Errorf("two tests share %q", d)
		}
	})
}
