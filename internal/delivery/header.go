package delivery

import (
	"mailgrid/internal/message/body"
	"mailgrid/internal/store"
)

// HeaderEnd returns the offset just past the blank line that ends the header section
// (RFC 5322 2.1), or the body's size when there is none (body.HeaderEnd).
func HeaderEnd(b store.Body) (int64, error) { return body.HeaderEnd(b) }
