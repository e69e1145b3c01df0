package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"mailgrid/internal/directory"
)

// Compose shows the plan's attachment limit and refuses a larger upload with a clear
// message, sending and storing nothing; within the limit it sends.
func TestComposeAttachmentLimit(t *testing.T) {
	h := mailHarness(t, nil)
	ctx := context.Background()
	if err := h.env.Dir.CreatePlan(ctx, directory.Plan{Name: "small", MaxAttachmentBytes: 1000}); err != nil {
		t.Fatal(err)
	}
	if err := h.env.Dir.SetDomainPlan(ctx, "a.example", "small"); err != nil {
		t.Fatal(err)
	}
	c := h.loggedIn("u1@a.example")
	if st, _, page := c.get("/mail/compose"); st != http.StatusOK || !strings.Contains(page, `id="attachment-limit"`) ||
		!strings.Contains(page, "1000 B") && !strings.Contains(page, "1,000") && !strings.Contains(page, "1000") {
		t.Fatalf("compose does not show the limit: %d\n%s", st, page)
	}
	send := url.Values{"op": {"send"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"big"}, "body": {"see attached"}}
	st, _, page := c.multipartPost("/mail/compose", send, map[string]string{"big.bin": strings.Repeat("x", 1001)})
	if st != http.StatusUnprocessableEntity || !strings.Contains(page, "The attachment &#34;big.bin&#34; is") ||
		!strings.Contains(page, "each attachment may be at most") {
		t.Fatalf("an upload over the limit: %d\n%s", st, page)
	}
	if n := h.env.Total(t, h.acct["u2@a.example"]); n != 0 {
		t.Fatalf("u2 got %d messages from a refused send", n)
	}
	if st, _, page := c.multipartPost("/mail/compose", send, map[string]string{"ok.bin": strings.Repeat("x", 1000)}); st != http.StatusSeeOther {
		t.Fatalf("an upload within the limit: %d\n%s", st, page)
	}
	if n := h.env.Total(t, h.acct["u2@a.example"]); n != 1 {
		t.Fatalf("u2 has %d messages, want 1", n)
	}
	// Without a plan there is no limit shown.
	if err := h.env.Dir.SetDomainPlan(ctx, "a.example", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, page := c.get("/mail/compose"); strings.Contains(page, `id="attachment-limit"`) {
		t.Fatal("a limit is shown without a plan")
	}
}
