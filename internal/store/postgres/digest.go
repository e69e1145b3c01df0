package postgres

import (
	"context"
	"fmt"

	"mailgrid/internal/store"
)

var _ store.Digester = (*Store)(nil)

// DigestMessages implements store.Digester: the lines are built and hashed by the
// server (string_agg in UID order, sha256), so one row crosses the wire per mailbox.
func (s *Store) DigestMessages(ctx context.Context, acct store.AccountRef, mbox store.MailboxID) (int64, [32]byte, error) {
	var sum [32]byte
	if err := s.ownMailbox(ctx, acct, mbox); err != nil {
		return 0, sum, err
	}
	var n int64
	var digest []byte
	err := s.pool.QueryRow(ctx, `SELECT count(*), sha256(convert_to(coalesce(string_agg(
			m.uid || ' ' || m.modseq || ' ' || array_to_string(m.flags, ' ') || ' ' || m.size || ' ' ||
			encode(b.sha256, 'hex') || ' ' || (extract(epoch FROM m.internal_date) * 1000000)::bigint || E'\n',
			'' ORDER BY m.uid), ''), 'UTF8'))
		FROM messages m JOIN blobs b ON b.id = m.blob WHERE m.mailbox = $1`, int64(mbox)).Scan(&n, &digest)
	if err != nil {
		return 0, sum, fmt.Errorf("digest: %w", err)
	}
	copy(sum[:], digest)
	return n, sum, nil
}
