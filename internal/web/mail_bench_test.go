package web_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/store"
)

// TestMailListSpeed measures (testing.Benchmark; it asserts nothing about time) the list
// page (newest first, and by subject) and a quick search over an INBOX of
// MAILGRID_BENCH_MESSAGES messages, through HTTP as a browser asks for them. It runs only
// when that variable is set (it is a measurement, not a check): the harness needs a
// *testing.T, so this is a test that runs benchmarks rather than a Benchmark function.
func TestMailListSpeed(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("MAILGRID_BENCH_MESSAGES"))
	if err != nil || n <= 0 {
		t.Skip("set MAILGRID_BENCH_MESSAGES=N to measure list and search pages over N messages")
	}
	h := mailHarness(t, nil)
	ref := deliverytest.Ref(h.acct["u1@a.example"])
	ctx := context.Background()
	const batch = 500
	for i := 0; i < n; i += batch {
		var targets []store.DeliveryTarget
		for j := i; j < min(i+batch, n); j++ {
			targets = append(targets, store.DeliveryTarget{Account: ref})
		}
		raw := fmt.Sprintf(textMail, fmt.Sprint("subject ", i), fmt.Sprint("b", i), "u1")
		if _, err := h.env.Store.Deliver(ctx, store.Delivery{Body: delivery.Bytes(raw), InternalDate: time.Now(), Targets: targets}); err != nil {
			t.Fatal(err)
		}
	}
	c := h.loggedIn("u1@a.example")
	in := h.box("u1@a.example", store.Inbox)
	for _, bc := range []struct{ name, path string }{
		{"date", fmt.Sprintf("/mail/f/%d", in.ID)},
		{"subject", fmt.Sprintf("/mail/f/%d?sort=subject&order=asc", in.ID)},
		{"search", "/mail/search?q=subject+9"},
	} {
		var failed error
		r := testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				if st, _, _ := c.get(bc.path); st != http.StatusOK && failed == nil {
					failed = fmt.Errorf("%s: %d", bc.path, st)
				}
			}
		})
		if failed != nil {
			t.Fatal(failed)
		}
		t.Logf("%s over %d messages: %v per page (%d runs)", bc.name, n, time.Duration(r.NsPerOp()), r.N)
	}
}
