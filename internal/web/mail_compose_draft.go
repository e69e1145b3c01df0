package web

// A draft's attachments in compose. Reopening a draft (or a scheduled message's "Edit",
// which reopens it as a draft) lists the draft's attachment parts as checked boxes named
// "keep"; a part whose box stays checked is read from the draft again when the form is
// saved or sent, before the old draft is replaced, and goes first among the attachments.
// Unchecking removes it.
//
// A box's value is a digest of the part's file name and decoded content, not its MIME
// section: an auto-save (mail.js) replaces the draft with a new one whose sections may
// differ (an attachment removed, a rich-text alternative added), while the digest of a
// kept part is the same in every version of the draft.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"mailgrid/internal/store"
)

// draftAttachment is one attachment part of the draft being edited.
type draftAttachment struct {
	Key  string // digest of name and content: the "keep" value
	Name string
	Size int64 // decoded
	Keep bool  // the box is checked
	part outPart
}

// draftAttachments reads the attachment parts of the draft ref, every one marked kept.
func (s *Server) draftAttachments(ctx context.Context, c *mailCtx, ref string) ([]draftAttachment, error) {
	o, err := s.ref(ctx, c, ref)
	if err != nil {
		return nil, err
	}
	_, _, attach, _ := bodyParts(&o.info.Structure)
	if len(attach) == 0 {
		return nil, nil
	}
	b, err := c.st.OpenBlob(ctx, c.ref, o.msg.ID)
	if err != nil {
		return nil, err
	}
	defer func() { _ = b.Close() }() // read-only
	out := make([]draftAttachment, 0, len(attach))
	for _, a := range attach {
		data, _, err := readPart(b, a.p, max(a.p.Size, 0))
		if err != nil {
			return nil, err
		}
		msg := a.p.Type == "message" && (a.p.Subtype == "rfc822" || a.p.Subtype == "global")
		name := partName(a.p)
		if name == "" {
			name = "attachment"
			if msg {
				name = "message.eml"
			}
		}
		h := sha256.New()
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(data)
		out = append(out, draftAttachment{Key: hex.EncodeToString(h.Sum(nil)[:12]), Name: name, Size: int64(len(data)), Keep: true,
			part: outPart{Name: name, Type: a.p.Type + "/" + a.p.Subtype, Data: data, Message: msg}})
	}
	return out, nil
}

// keptAttachments returns the draft's attachments the form keeps (its "keep" values)
// and lists the draft's attachments in v.Kept with their boxes as posted, so a refused
// form shows them again. A kept value the draft does not hold (it was replaced
// elsewhere) refuses the form.
func (s *Server) keptAttachments(ctx context.Context, c *mailCtx, v *composeView, keep []string) ([]outPart, error) {
	v.Kept = nil
	if v.Draft == "" {
		if len(keep) > 0 {
			return nil, badForm("The attachments to keep belong to no draft; reopen the draft.")
		}
		return nil, nil
	}
	list, err := s.draftAttachments(ctx, c, v.Draft)
	if errors.Is(err, store.ErrNotFound) {
		if len(keep) == 0 {
			return nil, nil
		}
		return nil, badForm("The draft was changed or deleted elsewhere, so its attachments cannot be kept; reopen it from Drafts.")
	}
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, k := range keep {
		want[k] = true
	}
	var out []outPart
	for i := range list {
		list[i].Keep = want[list[i].Key]
		if list[i].Keep {
			out = append(out, list[i].part)
			delete(want, list[i].Key)
		}
	}
	v.Kept = list
	if len(want) > 0 {
		return nil, badForm("An attachment of the draft is no longer there (the draft was changed elsewhere); reopen it from Drafts.")
	}
	return out, nil
}
