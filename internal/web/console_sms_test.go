package web_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/directory"
)

// The console's SMS statistics: the domain page links to them; a domain admin and a
// system admin see the SMS of the domain's users per user and per day over the chosen
// period, another domain's admin and a user are refused, and a bad period is a clear 400.
func TestConsoleSMSStats(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	now := time.Now().UTC()
	old := now.AddDate(0, 0, -10)
	u1, u2, bu := h.acct["u1@a.example"], h.acct["u2@a.example"], h.acct["u1@b.example"]
	for _, c := range []struct {
		a    directory.Account
		kind directory.SMSKind
		at   time.Time
	}{
		{u1, directory.SMSSend, now}, {u1, directory.SMSSend, now}, {u1, directory.SMSNotify, now},
		{u2, directory.SMSNotify, now}, {u2, directory.SMSNotify, old}, {bu, directory.SMSSend, now},
	} {
		if err := h.env.Dir.CountSMS(ctx, c.a.Address.Domain, c.a.ID, c.a.Address.String(), c.kind, c.at); err != nil {
			t.Fatal(err)
		}
	}
	da := h.loggedIn("da@a.example")
	if _, _, body := da.get("/console/domains/a.example"); !strings.Contains(body, `href="/console/domains/a.example/sms"`) {
		t.Fatal("the domain page has no link to the SMS statistics")
	}
	row := func(key string, n, s, tot int) string {
		return "<tr><td>" + key + "</td><td>" + strconv.Itoa(n) + "</td><td>" + strconv.Itoa(s) + "</td><td>" + strconv.Itoa(tot) + "</td></tr>"
	}
	today, oldDay := directory.SMSDay(now), directory.SMSDay(old)
	st, _, body := da.get("/console/domains/a.example/sms")
	for _, want := range []string{row("u1@a.example", 1, 2, 3), row("u2@a.example", 2, 0, 2), row(oldDay, 1, 0, 1),
		"<strong>5</strong> SMS sent"} {
		if st != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("30 days: want %q: %d %s", want, st, body)
		}
	}
	if strings.Contains(body, "u1@b.example") {
		t.Fatal("another domain's user is counted")
	}
	// Most SMS first.
	if strings.Index(body, "u1@a.example") > strings.Index(body, "u2@a.example") {
		t.Fatal("per user: not ordered by total")
	}
	_, _, week := da.get("/console/domains/a.example/sms?days=7")
	if !strings.Contains(week, row("u2@a.example", 1, 0, 1)) || strings.Contains(week, oldDay) || !strings.Contains(week, "<strong>4</strong> SMS sent") {
		t.Fatalf("7 days: %s", week)
	}
	if !strings.Contains(week, "<td>"+today+"</td>") && !strings.Contains(week, "<td>"+directory.SMSDay(time.Now())+"</td>") {
		t.Fatalf("7 days: no row for today: %s", week)
	}
	for _, bad := range []string{"0", "367", "x"} {
		if st, _, body := da.get("/console/domains/a.example/sms?days=" + bad); st != http.StatusBadRequest || !strings.Contains(body, "days: a whole number") {
			t.Errorf("days=%s: %d", bad, st)
		}
	}
	if st, _, body := h.loggedIn("root@sys.example").get("/console/domains/a.example/sms"); st != http.StatusOK || !strings.Contains(body, row("u1@a.example", 1, 2, 3)) {
		t.Fatalf("system admin: %d", st)
	}
	for who, path := range map[string]string{"da@b.example": "/console/domains/a.example/sms", "u1@a.example": "/console/domains/a.example/sms"} {
		if st, _, body := h.loggedIn(who).get(path); st != http.StatusNotFound || strings.Contains(body, "sms-per-user") {
			t.Errorf("%s: %d", who, st)
		}
	}
	if st, loc, _ := h.client().get("/console/domains/a.example/sms"); st != http.StatusSeeOther || !strings.HasPrefix(loc.Get("Location"), "/login") {
		t.Errorf("signed out: %d %s", st, loc)
	}
}
