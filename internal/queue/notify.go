package queue

import "strings"

// RFC 3461 4.1 NOTIFY keywords.
const (
	NotifyNever   = "NEVER"
	NotifySuccess = "SUCCESS"
	NotifyFailure = "FAILURE"
	NotifyDelay   = "DELAY"
)

// notifies reports whether a DSN of kind (NotifySuccess, NotifyFailure, NotifyDelay) is
// to be sent for r. Never for the null sender (RFC 5321 4.5.5, RFC 3461 6.2); otherwise
// as NOTIFY asks, and absent NOTIFY means FAILURE,DELAY (RFC 3461 4.1).
func notifies(env Envelope, r Recipient, kind string) bool {
	if env.From == "" {
		return false
	}
	if len(r.Notify) == 0 {
		return kind == NotifyFailure || kind == NotifyDelay
	}
	for _, n := range r.Notify {
		if strings.EqualFold(n, NotifyNever) {
			return false
		}
	}
	for _, n := range r.Notify {
		if strings.EqualFold(n, kind) {
			return true
		}
	}
	return false
}
