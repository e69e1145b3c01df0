package managesieve_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every session, server and store goroutine ends with its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
