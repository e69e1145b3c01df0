package web

import (
	"context"
	"errors"

	"mailgrid/internal/directory"
)

// The attachment limit of the account's domain within its service plan
// (directory.Domain.MaxAttachmentBytes, else directory.Plan.MaxAttachmentBytes):
// compose shows it and refuses a larger upload with a clear message before anything is
// sent. The message path enforces the same limit (the attachment-size mailet: 552 5.3.4
// at submission), so this is a courtesy, not the check.

// maxAttachment is the largest attachment the account may send, 0 for no limit: the
// domain's own limit when set and within its plan's, else the plan's
// (directory.Domain.AttachmentLimit). A fault reading the plan is logged and shows the
// domain's own: the mailet still applies the limit.
func (s *Server) maxAttachment(ctx context.Context, c *mailCtx) int64 {
	return c.p.dom.AttachmentLimit(s.planAttachmentLimit(ctx, c))
}

// planAttachmentLimit is the attachment limit of the account's plan (0: none, or no plan).
func (s *Server) planAttachmentLimit(ctx context.Context, c *mailCtx) int64 {
	ps, ok := s.dir.(directory.PlanStore)
	if !ok {
		return 0
	}
	name, err := ps.DomainPlan(ctx, c.p.acct.Address.Domain)
	if err != nil || name == "" {
		if err != nil {
			s.log.Warn("webmail: the domain's plan", "err", err)
		}
		return 0
	}
	pl, err := ps.Plan(ctx, name)
	if err != nil {
		if !errors.Is(err, directory.ErrNotFound) {
			s.log.Warn("webmail: the domain's plan", "plan", name, "err", err)
		}
		return 0
	}
	return pl.MaxAttachmentBytes
}

// checkAttachmentSizes refuses attachments over limit (0: none).
func checkAttachmentSizes(parts []outPart, limit int64) error {
	for _, p := range parts {
		if limit > 0 && int64(len(p.Data)) > limit {
			return badForm("The attachment %q is %s: each attachment may be at most %s.", p.Name,
				mailSize(int64(len(p.Data))), mailSize(limit))
		}
	}
	return nil
}
