package filter

import (
	"context"

	"mailgrid/internal/filter/bayes"
	"mailgrid/internal/store"
)

// TrainLog remembers which message bodies an account's classifier was trained on and as
// what (SpamAssassin's bayes_seen): training is then idempotent, and a message judged
// again the other way is untrained first. Bodies are named by their store BlobID (the
// sha256 of the content), so a copy in another mailbox is the same message.
type TrainLog interface {
	// TrainedAs returns the class blob was trained as for acct; ok is false when it
	// was not trained.
	TrainedAs(ctx context.Context, acct store.AccountRef, blob string) (class bayes.Class, ok bool, err error)
	// SetTrained records that blob is now trained as class.
	SetTrained(ctx context.Context, acct store.AccountRef, blob string, class bayes.Class) error
}
