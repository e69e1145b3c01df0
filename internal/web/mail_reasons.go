package web

// Refusals that core packages word (internal/fetch, internal/sms, internal/directory)
// shown in the page's language. Those packages give a reason as a typed error with an
// English format and its arguments (fetch.InvalidError, directory.InvalidError), or as a
// sentinel error whose text is fixed; either way the English text is the catalogue key,
// as for the templates' strings (i18n.go), and a key without an entry shows in English.
// TestCatalogueComplete keeps the formats and sentinels of those packages in the
// Chinese catalogue. What the remote POP3 server or a network library says stays as it
// was said.

import (
	"errors"

	"mailgrid/internal/directory"
	"mailgrid/internal/fetch"
	"mailgrid/internal/sms"
)

// userRefusals are the fixed refusals of the SMS service and the fetcher a user reads,
// most specific first (sms.ErrSwitchedOff is also sms.ErrNotInPlan).
var userRefusals = []error{sms.ErrSwitchedOff, sms.ErrNotInPlan, sms.ErrOff, fetch.ErrBusy, fetch.ErrMailboxFull}

// reason is err's user-facing text in u's language when a core package worded it for
// the user (see above); ok is false for any other error.
func (u uiPrefs) reason(err error) (msg string, ok bool) {
	var fi *fetch.InvalidError
	var di *directory.InvalidError
	var fe *fetch.ForbiddenError
	var re *fetch.RemoteError
	switch {
	case errors.As(err, &fi):
		return u.Tf("invalid account: %s", u.Tf(fi.Format, fi.Args...)), true
	case errors.As(err, &di):
		return u.Tf(di.Format, di.Args...), true
	case errors.As(err, &fe):
		// fetch.ForbiddenError.Error, worded whole for each case.
		if a := fe.Addr.String(); fe.Host != a {
			return u.Tf("refused: %s resolves to %s, which is a loopback, private, link-local or unspecified address; this server fetches only from public addresses", fe.Host, a), true
		}
		return u.Tf("refused: %s is a loopback, private, link-local or unspecified address; this server fetches only from public addresses", fe.Addr.String()), true
	case errors.As(err, &re):
		return u.Tf("the POP3 server refused %s: %s", re.Cmd, re.Reply), true
	}
	for _, s := range userRefusals {
		if errors.Is(err, s) {
			return u.T(s.Error()), true
		}
	}
	return "", false
}

// reasonOr is reason's text, or otherwise when err is not worded for the user.
func (u uiPrefs) reasonOr(err error, otherwise string) string {
	if msg, ok := u.reason(err); ok {
		return msg
	}
	return otherwise
}

// storedReason is the text a run recorded (fetch.Account.LastError, in English) in u's
// language when it is one of the fixed refusals; other texts (with the remote's or the
// network's words, or formatted) show as recorded.
func (u uiPrefs) storedReason(text string) string {
	for _, s := range userRefusals {
		if text == s.Error() {
			return u.T(text)
		}
	}
	return text
}
