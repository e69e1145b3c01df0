package delivery

import (
	"mailgrid/internal/message/body"
	"mailgrid/internal/store"
)

// The body-composition helpers live in package body (shared with package filter); these
// names stay for the front-ends that already use them.

// Bytes is a small in-memory store.Body (header lines to prepend, a DSN's text parts).
type Bytes = body.Bytes

// Concat presents parts as one store.Body without copying them (body.Concat).
func Concat(parts ...store.Body) store.Body {
	bs := make([]body.Body, len(parts))
	for i, p := range parts {
		bs[i] = p
	}
	return body.Concat(bs...)
}

// Prepend returns header followed by b, without copying b.
func Prepend(header []byte, b store.Body) store.Body { return body.Prepend(header, b) }

// Section returns the bytes [off, off+n) of b as a store.Body.
func Section(b store.Body, off, n int64) store.Body { return body.Section(b, off, n) }
