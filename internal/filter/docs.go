package filter

import (
	"context"
	"fmt"
	"regexp"

	"mailgrid/internal/store"
)

// AccountDocs keeps small named documents per account that are neither mail nor rules:
// the webmail's display preferences and signatures. They live in the filter state
// because it is the per-account state every node shares (the directory database in a
// cluster); a document is replaced whole, and the last write wins. They are not Sieve
// scripts, so ManageSieve clients never see them.
type AccountDocs interface {
	// Doc returns the named document; ErrNotFound when the account has none.
	Doc(ctx context.Context, acct store.AccountRef, name string) ([]byte, error)
	// PutDoc creates or replaces the named document. ErrInvalid for a bad name or a
	// document over MaxDocBytes.
	PutDoc(ctx context.Context, acct store.AccountRef, name string, doc []byte) error
	// DeleteDoc removes the named document; removing an absent one is not an error.
	DeleteDoc(ctx context.Context, acct store.AccountRef, name string) error
}

// MaxDocBytes bounds one account document.
const MaxDocBytes = 256 << 10

var docName = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,63}$`)

// CheckDoc validates a document name and size; drivers call it before writing.
func CheckDoc(name string, doc []byte) error {
	if !docName.MatchString(name) {
		return fmt.Errorf("%w: document name %q", ErrInvalid, name)
	}
	if len(doc) > MaxDocBytes {
		return fmt.Errorf("%w: document %q is %d bytes (limit %d)", ErrInvalid, name, len(doc), MaxDocBytes)
	}
	return nil
}
