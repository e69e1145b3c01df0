package imapserver_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind (sessions, IDLE
// readers, store committers): every server is shut down and every store closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
