// Package message parses and composes Internet messages (RFC 5322, MIME RFC 2045-2049).
//
// API contract (implementation in progress; see the files of this package):
//
//	Parse(r io.ReaderAt, size int64) (*Info, error)
//	    Parses headers and the MIME part tree once, at delivery, into Info: the IMAP
//	    ENVELOPE fields and BODYSTRUCTURE tree with byte offsets of every part, so FETCH
//	    can later be served from the blob without re-parsing. Malformed MIME never fails
//	    delivery: Parse falls back to a single text/plain part and sets Info.Malformed.
//	    Info marshals to JSON (store.Message.Meta).
//
//	NewSpool(dir string, memLimit int) *Spool
//	    A rereadable message buffer (io.Writer while receiving; io.ReaderAt + Size after),
//	    kept in memory up to memLimit and in an unlinked temp file in dir beyond.
package message
