package sieve

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// rejectRule refuses mail to a retired address unless it is urgent.
var rejectRule = Rule{Name: "ex", Conditions: []Condition{{Field: FieldTo, Op: OpIs, Value: "old@example.com"},
	{Field: FieldSubject, Op: OpContains, Value: "urgent", Not: true}},
	Actions: []RuleAction{{Type: ActReject, Reason: "This address is no longer in use."}}}

func fullSettings() Settings {
	return Settings{
		Block: []string{"spammer@bad.example", "@junk.example", "worse.example"},
		Allow: []string{"friend@junk.example"},
		Forward: &Forward{
			To:       []string{"Me Elsewhere <me@elsewhere.example>"},
			KeepCopy: true,
		},
		Rules: []Rule{
			{Name: "work\nmail", Conditions: []Condition{{Field: FieldFrom, Op: OpContains, Value: "@work.example"}},
				Actions: []RuleAction{{Type: ActFileInto, Mailbox: "Work"}, {Type: ActFlag, Flag: `\flagged`}}},
			{Name: "disabled", Disabled: true, Actions: []RuleAction{{Type: ActDiscard}}},
			{Name: "newsletters", Any: true, Conditions: []Condition{
				{Field: FieldSubject, Op: OpMatches, Value: "*[news]*"},
				{Field: FieldHeader, Header: "X-Mailer", Op: OpIs, Value: "BulkMailer 2.0"},
			}, Actions: []RuleAction{{Type: ActFileInto, Mailbox: "News"}, {Type: ActStop}}},
			{Name: "big", Conditions: []Condition{{Field: FieldSize, Op: OpOver, Size: 1 << 20}},
				Actions: []RuleAction{{Type: ActFileInto, Mailbox: `Big "files"`}}},
			{Name: "boss", Conditions: []Condition{{Field: FieldFrom, Op: OpIs, Value: "boss@work.example"}},
				Actions: []RuleAction{{Type: ActForward, Address: "assistant@example.com"}}},
		},
		Vacation: &Vacation{
			Subject: "Away", Body: "I am away until Monday.\nRegards", Days: 3,
			Addresses: []string{"me.alias@example.com"},
			Start:     time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC),
			End:       time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC),
		},
	}
}

// TestGenerateRoundTrip: the generated script compiles and behaves as the settings say.
func TestGenerateRoundTrip(t *testing.T) {
	src, err := Generate(fullSettings())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(src, `require ["copy", "date", "envelope", "fileinto", "imap4flags", "relational", "vacation"];`) {
		t.Errorf("require line:\n%s", src)
	}
	mk := func(from string, extra ...string) testMsg {
		return testMsg{raw: hdrs("hello\n", append([]string{"From: " + from, "To: me@example.com", "Subject: hi"}, extra...)...), from: "bounce@sender.example"}
	}
	fwd, vac := "redirect:me@elsewhere.example:copy", "vacation:bounce@sender.example"
	cases := []struct {
		name string
		msg  testMsg
		now  time.Time
		want string
	}{
		{"blocked address", mk("spammer@bad.example"), testNow, "discard"},
		{"blocked domain", mk("x@junk.example"), testNow, "discard"},
		{"blocked subdomain", mk("x@mail.worse.example"), testNow, "discard"},
		{"blocked envelope sender", testMsg{raw: hdrs("x", "From: nice@ok.example", "To: me@example.com"), from: "x@junk.example"}, testNow, "discard"},
		{"allowed in a blocked domain", mk("Friend <friend@junk.example>"), testNow, fwd + " " + vac + " keep(implicit)"},
		{"not a subdomain", mk("x@notworse.example"), testNow, fwd + " " + vac + " keep(implicit)"},
		{"work rule with flag", mk("Colleague <c@work.example>"), testNow, fwd + ` fileinto:Work[\Flagged] ` + vac},
		{"news by subject, stop", mk("n@list.example", "Subject: [news] weekly"), testNow, fwd + " fileinto:News"},
		{"news by header", mk("n@list.example", "X-Mailer: bulkmailer 2.0"), testNow, fwd + " fileinto:News"},
		{"boss forwarded", mk("boss@work.example"), testNow, fwd + ` fileinto:Work[\Flagged] redirect:assistant@example.com ` + vac},
		{"vacation over", mk("someone@else.example"), testNow.AddDate(0, 0, 7), fwd + " keep(implicit)"},
		{"vacation not begun", mk("someone@else.example"), testNow.AddDate(0, 0, -5), fwd + " keep(implicit)"},
		{"vacation last day", mk("someone@else.example"), time.Date(2026, 3, 20, 23, 0, 0, 0, time.UTC), fwd + " " + vac + " keep(implicit)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := runScript(t, src, c.msg, RunOptions{Now: c.now})
			if got := summary(res); got != c.want {
				t.Errorf("actions %q\nwant    %q\nscript:\n%s", got, c.want, src)
			}
		})
	}
	// Without the forward, the reject rule applies.
	s := fullSettings()
	s.Forward = nil
	s.Rules = append(s.Rules, rejectRule)
	if src, err = Generate(s); err != nil {
		t.Fatal(err)
	}
	for subj, want := range map[string]string{"hi": "reject:This address is no longer in use.", "URGENT": "keep(implicit)"} {
		msg := testMsg{raw: hdrs("x", "From: a@b.example", "To: old@example.com", "Subject: "+subj), from: "a@b.example"}
		if got := summary(runScript(t, src, msg, RunOptions{})); got != want {
			t.Errorf("reject rule, subject %q: %q, want %q", subj, got, want)
		}
	}
	v := vacationOf(t, runScript(t, src, mk("someone@else.example"), RunOptions{}))
	if v.Subject != "Away" || v.Days != 3 || v.Reason != "I am away until Monday.\nRegards" {
		t.Errorf("vacation %+v", v)
	}
	big := testMsg{raw: hdrs(strings.Repeat("x", 1<<20), "From: a@b.example", "To: me@example.com"), from: "a@b.example"}
	if got := summary(runScript(t, src, big, RunOptions{})); got != `fileinto:Big "files" vacation:a@b.example` {
		t.Errorf("big: %q", got)
	}
}

// TestGenerateQuoting: text from users is literal in the script, whatever it holds.
func TestGenerateQuoting(t *testing.T) {
	for _, val := range []string{`He said "hi" \o/`, `${x} and ${1}`, "two\nlines", `a*b?c`, `"; discard; #`} {
		src, err := Generate(Settings{Rules: []Rule{{
			Conditions: []Condition{{Field: FieldSubject, Op: OpIs, Value: val}},
			Actions:    []RuleAction{{Type: ActFileInto, Mailbox: strings.ReplaceAll(val, "\n", " ")}},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		res := runScript(t, src, testMsg{raw: hdrs("x", "Subject: "+strings.ReplaceAll(val, "\n", " ")), from: "a@b.example"}, RunOptions{})
		if strings.Contains(val, "\n") {
			continue // a header cannot hold the newline; compiling is the check
		}
		if got := summary(res); got != "fileinto:"+val {
			t.Errorf("%q: %q\n%s", val, got, src)
		}
	}
}

func TestGenerateEmptyAndForwardOnly(t *testing.T) {
	src, err := Generate(Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(runScript(t, src, testMsg{raw: personal, from: "a@b.example"}, RunOptions{})); got != "keep(implicit)" {
		t.Errorf("empty settings: %q", got)
	}
	src, err = Generate(Settings{
		Forward: &Forward{To: []string{"a@x.example", "b@x.example"}},
		Rules:   []Rule{{Actions: []RuleAction{{Type: ActFileInto, Mailbox: "never"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(runScript(t, src, testMsg{raw: personal, from: "a@b.example"}, RunOptions{})); got != "redirect:a@x.example redirect:b@x.example" {
		t.Errorf("forward without a copy: %q", got)
	}
}

func TestGenerateErrors(t *testing.T) {
	cases := []struct {
		s    Settings
		path string
	}{
		{Settings{Block: []string{"not valid!"}}, "block[0]"},
		{Settings{Block: []string{"a@b.example"}, Allow: []string{"x@"}}, "allow[0]"},
		{Settings{Forward: &Forward{To: []string{"a@x.example", "b@x.example", "c@x.example", "d@x.example", "e@x.example"}}}, "forward.to"},
		{Settings{Forward: &Forward{To: []string{"nobody"}}}, "forward.to[0]"},
		{Settings{Rules: []Rule{{}}}, "rules[0].actions"},
		{Settings{Rules: []Rule{{Conditions: []Condition{{Field: FieldSize, Op: OpContains}}, Actions: []RuleAction{{Type: ActStop}}}}}, "rules[0].conditions[0]"},
		{Settings{Rules: []Rule{{Conditions: []Condition{{Field: FieldFrom, Op: OpOver, Value: "x"}}, Actions: []RuleAction{{Type: ActStop}}}}}, "rules[0].conditions[0]"},
		{Settings{Rules: []Rule{{Conditions: []Condition{{Field: FieldSubject, Op: OpIs}}, Actions: []RuleAction{{Type: ActStop}}}}}, "rules[0].conditions[0].value"},
		{Settings{Rules: []Rule{{Conditions: []Condition{{Field: FieldHeader, Header: "Bad Name", Op: OpIs, Value: "x"}}, Actions: []RuleAction{{Type: ActStop}}}}}, "rules[0].conditions[0].header"},
		{Settings{Rules: []Rule{{Conditions: []Condition{{Field: "body", Op: OpIs, Value: "x"}}, Actions: []RuleAction{{Type: ActStop}}}}}, "rules[0].conditions[0].field"},
		{Settings{Rules: []Rule{{Actions: []RuleAction{{Type: ActFileInto}}}}}, "rules[0].actions[0].mailbox"},
		{Settings{Rules: []Rule{{Actions: []RuleAction{{Type: ActFlag, Flag: `\Recent`}}}}}, "rules[0].actions[0].flag"},
		{Settings{Rules: []Rule{{Actions: []RuleAction{{Type: ActForward, Address: "x"}}}}}, "rules[0].actions[0].address"},
		{Settings{Rules: []Rule{{Actions: []RuleAction{{Type: "explode"}}}}}, "rules[0].actions[0].type"},
		{Settings{Rules: []Rule{{Actions: []RuleAction{{Type: ActReject, Reason: "no"}, {Type: ActFileInto, Mailbox: "x"}}}}}, "rules[0].actions"},
		{Settings{Forward: &Forward{To: []string{"a@x.example"}, KeepCopy: true}, Rules: []Rule{{Actions: []RuleAction{{Type: ActReject}}}}}, "rules[0].actions"},
		{Settings{Vacation: &Vacation{}}, "vacation.body"},
		{Settings{Vacation: &Vacation{Body: "x", From: "nope"}}, "vacation.from"},
		{Settings{Vacation: &Vacation{Body: "x", Addresses: []string{"example.com"}}}, "vacation.addresses"},
		{Settings{Vacation: &Vacation{Body: "x", Start: testNow, End: testNow.AddDate(0, 0, -1)}}, "vacation.end"},
	}
	for _, c := range cases {
		_, err := Generate(c.s)
		var se *SettingsError
		if !errors.As(err, &se) || se.Path != c.path {
			t.Errorf("%+v: err = %v, want path %s", c.s, err, c.path)
		}
	}
}
