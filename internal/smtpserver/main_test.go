package smtpserver_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (sessions, listeners,
// the drivers' background work).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
