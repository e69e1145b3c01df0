package sqlkit_test

import (
	"errors"
	"testing"

	"mailgrid/internal/sqlkit"
)

// Err names the driver and the operation, keeps the cause matchable, and leaves nil nil.
func TestBaseErr(t *testing.T) {
	b := sqlkit.Base{Name: "x/sqlite"}
	if err := b.Err("get", nil); err != nil {
		t.Fatalf("Err of nil: %v", err)
	}
	err := b.Err("get", sqlkit.ErrNoRows)
	if !errors.Is(err, sqlkit.ErrNoRows) || err.Error() != "x/sqlite: get: no rows in result set" {
		t.Fatalf("Err: %v", err)
	}
}
