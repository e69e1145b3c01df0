package imapserver

import "mailgrid/internal/store"

// Sessions of a moved account. A user move (package cluster) ends on the old shard with
// one commit that deletes the account's mail there and publishes store.AccountMoved; the
// bus brings it to every node's sessions of the account. A session with a selected
// mailbox then ends with an untagged BYE (RFC 9051 7.1.5) carrying [UNAVAILABLE]
// (RFC 5530 3): the client reconnects, logs in again and reaches the new shard, where
// UIDVALIDITY and UIDs are those it had (its cache stays valid). A session with nothing
// selected learns it at its next command, which finds no mailboxes on the old shard.

// applyMoved records an AccountMoved change (the selected mailbox is gone with the
// account) and reports whether ch was one.
func (v *view) applyMoved(ch store.Change) bool {
	if ch.Kind != store.AccountMoved {
		return false
	}
	v.deleted, v.moved = true, true
	return true
}

// goneText is the BYE text when the selected mailbox is gone.
func goneText(v *view) string {
	if v.moved {
		return "[UNAVAILABLE] Account moved to another server, please reconnect"
	}
	return "Selected mailbox was deleted, closing connection"
}
