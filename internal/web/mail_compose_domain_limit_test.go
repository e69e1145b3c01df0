package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"mailgrid/internal/directory"
)

// The domain's own attachment limit (below its plan's) is the one compose applies; with
// no plan the domain's alone applies.
func TestComposeDomainAttachmentLimit(t *testing.T) {
	h := mailHarness(t, nil)
	ctx := context.Background()
	if err := h.env.Dir.CreatePlan(ctx, directory.Plan{Name: "small", MaxAttachmentBytes: 1000}); err != nil {
		t.Fatal(err)
	}
	if err := h.env.Dir.SetDomainPlan(ctx, "a.example", "small"); err != nil {
		t.Fatal(err)
	}
	setLimit := func(n int64) {
		d, err := h.env.Dir.Domain(ctx, "a.example")
		if err != nil {
			t.Fatal(err)
		}
		d.MaxAttachmentBytes = n
		if err := h.env.Dir.UpdateDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	setLimit(500)
	c := h.loggedIn("u1@a.example")
	send := url.Values{"op": {"send"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"att"}, "body": {"see attached"}}
	if st, _, page := c.multipartPost("/mail/compose", send, map[string]string{"a.bin": strings.Repeat("x", 501)}); st != http.StatusUnprocessableEntity ||
		!strings.Contains(page, "each attachment may be at most") {
		t.Fatalf("over the domain's limit: %d\n%s", st, page)
	}
	if st, _, page := c.multipartPost("/mail/compose", send, map[string]string{"a.bin": strings.Repeat("x", 500)}); st != http.StatusSeeOther {
		t.Fatalf("within the domain's limit: %d\n%s", st, page)
	}
	// No plan: the domain's own limit alone.
	if err := h.env.Dir.SetDomainPlan(ctx, "a.example", ""); err != nil {
		t.Fatal(err)
	}
	setLimit(700)
	if _, _, page := c.get("/mail/compose"); !strings.Contains(page, `id="attachment-limit"`) {
		t.Fatal("the domain's limit is not shown")
	}
	if st, _, page := c.multipartPost("/mail/compose", send, map[string]string{"a.bin": strings.Repeat("x", 701)}); st != http.StatusUnprocessableEntity {
		t.Fatalf("over the domain's limit without a plan: %d\n%s", st, page)
	}
}
