package web

import (
	"cmp"
	"html/template"
	"net/http"
	"slices"
	"strconv"

	"mailgrid/internal/directory"
)

// The console's SMS statistics of a domain (/console/domains/{domain}/sms): the SMS its
// accounts sent through the operator's gateway (package sms) over the last ?days= days
// (default 30, at most smsStatsMaxDays), summed per user and per day, split into
// notifications of new mail and "send as SMS" from the webmail. The numbers are the
// directory's counters (directory.SMSStore.CountSMS: one per SMS the gateway took, per
// account and UTC day; they outlive a deleted account), read through admin.Scoped, so
// only the domain's administrators and system admins see them; the JSON form is
// GET /api/v1/domains/{domain}/sms-stats.

// Bounds of the page's period in days.
const (
	smsStatsDefaultDays = 30
	smsStatsMaxDays     = 366
)

// smsStatsRow is one line of a table: a user or a day.
type smsStatsRow struct {
	Key          string // the address or the day (YYYY-MM-DD)
	Notify, Send int64
	Total        int64
	accountID    int64
	lastDay      string
}

// smsStatsData is the page's data: the console's, plus the domain's statistics.
type smsStatsData struct {
	pageData
	SMSDomain string
	Days      int
	Since     string // the first day counted (UTC)
	Choices   []int  // the periods offered
	Total     smsStatsRow
	PerUser   []smsStatsRow // most SMS first
	PerDay    []smsStatsRow // newest day first
}

// consoleSMSRoutes mounts the page.
func (s *Server) consoleSMSRoutes(mux *http.ServeMux) {
	t, err := template.New("sms").Funcs(templateFuncs).ParseFS(assetFS,
		"assets/layout.html", "assets/partials.html", "assets/console_sms.html")
	if err != nil {
		s.log.Error("web: sms console template", "err", err)
		return
	}
	mux.HandleFunc("GET /console/domains/{domain}/sms", func(w http.ResponseWriter, r *http.Request) {
		p := s.pageSession(r)
		if p == nil {
			http.Redirect(w, r, "/login?next="+r.URL.EscapedPath(), http.StatusSeeOther)
			return
		}
		d := smsStatsData{pageData: s.baseData(p, "SMS statistics"), Choices: []int{7, 30, 90, 366}}
		d.Nav = "home"
		d.Days = smsStatsDefaultDays
		if v := r.URL.Query().Get("days"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > smsStatsMaxDays {
				s.renderError(w, r, d.pageData, apiErr(http.StatusBadRequest, "invalid",
					"days: a whole number from 1 to %d", smsStatsMaxDays))
				return
			}
			d.Days = n
		}
		sc := s.scoped(r, p)
		dm, err := sc.Domain(r.Context(), r.PathValue("domain"))
		if err != nil {
			s.renderError(w, r, d.pageData, err)
			return
		}
		since := s.now().UTC().AddDate(0, 0, 1-d.Days)
		cs, err := sc.SMSCounts(r.Context(), dm.Name, since)
		if err != nil {
			s.renderError(w, r, d.pageData, err)
			return
		}
		d.SMSDomain, d.Since = dm.Name, directory.SMSDay(since)
		d.Total, d.PerUser, d.PerDay = smsStatsTables(cs)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := t.ExecuteTemplate(w, "layout", d); err != nil {
			s.log.Error("web: render", "template", "console_sms", "err", err)
		}
	})
}

// smsStatsTables sums the counters (ordered by day, as SMSStore.SMSCounts lists them)
// per account and per day. A user's row carries the address last counted for it.
func smsStatsTables(cs []directory.SMSCount) (total smsStatsRow, perUser, perDay []smsStatsRow) {
	users := map[int64]int{}
	days := map[string]int{}
	for _, c := range cs {
		i, ok := users[c.AccountID]
		if !ok {
			i = len(perUser)
			users[c.AccountID] = i
			perUser = append(perUser, smsStatsRow{accountID: c.AccountID})
		}
		if c.Day >= perUser[i].lastDay {
			perUser[i].Key, perUser[i].lastDay = c.Address, c.Day
		}
		j, ok := days[c.Day]
		if !ok {
			j = len(perDay)
			days[c.Day] = j
			perDay = append(perDay, smsStatsRow{Key: c.Day})
		}
		for _, r := range []*smsStatsRow{&perUser[i], &perDay[j], &total} {
			r.Notify += c.Notify
			r.Send += c.Send
			r.Total += c.Notify + c.Send
		}
	}
	slices.SortFunc(perUser, func(a, b smsStatsRow) int {
		return cmp.Or(cmp.Compare(b.Total, a.Total), cmp.Compare(a.Key, b.Key), cmp.Compare(a.accountID, b.accountID))
	})
	slices.SortFunc(perDay, func(a, b smsStatsRow) int { return cmp.Compare(b.Key, a.Key) })
	return total, perUser, perDay
}
