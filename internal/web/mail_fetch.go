package web

// The webmail's external POP3 accounts (package fetch): /mail/fetch lists the session's
// account's remote mailboxes with the result of their last run, and adds, edits, deletes,
// tests ("Test": connect, log in, count the messages; nothing fetched) and fetches now
// ("Fetch now": one run under the account's lease, as the schedule does).
//
// The password is sealed (fetch.Seal) before it is stored and is never written into the
// page: the edit form leaves it blank, and a blank password keeps the stored one. Every
// call names the session's own account as the owner, so another account's IDs are "not
// found".

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"mailgrid/internal/fetch"
)

type fetchPage struct {
	mailPage
	Accounts []fetchRow
	Edit     fetchForm
	Modes    []string
}

type fetchRow struct {
	fetch.Account
	TLSName  string
	LastRun  string
	NextRun  string
	Interval int // minutes
}

type fetchForm struct {
	ID                       int64
	Host, Port, TLS, User    string
	Folder, Mode, Interval   string
	HasPassword, PasswordSet bool
}

func (s *Server) mailFetchPages(a *mailAssets, page func(string, func(http.ResponseWriter, *http.Request, *mailCtx))) {
	t, err := a.t.Clone()
	if err == nil {
		_, err = t.ParseFS(assetFS, "assets/mail_fetch.html")
	}
	if err != nil {
		s.log.Error("webmail: fetch template", "err", err)
		return
	}
	page("GET /mail/fetch", func(w http.ResponseWriter, r *http.Request, c *mailCtx) {
		var form *fetchForm
		if id, err := strconv.ParseInt(r.URL.Query().Get("edit"), 10, 64); err == nil && s.opt.Mail.Fetch != nil {
			acct, err := s.opt.Mail.Fetch.Store().Get(r.Context(), c.ref, id)
			if err == nil {
				f := formOfFetch(acct)
				form = &f
			}
		}
		s.fetchList(w, r, c, t, http.StatusOK, "", map[string]string{"saved": c.ui.T("External account saved."), "deleted": c.ui.T("External account deleted.")}[r.URL.Query().Get("saved")], form)
	})
	page("POST /mail/fetch", func(w http.ResponseWriter, r *http.Request, c *mailCtx) { s.fetchPost(w, r, c, t) })
}

func formOfFetch(a fetch.Account) fetchForm {
	mode := "delete"
	if a.Keep {
		mode = "keep"
	}
	return fetchForm{ID: a.ID, Host: a.Host, Port: strconv.Itoa(a.Port), TLS: a.TLS.String(), User: a.User, Folder: a.Folder,
		Mode: mode, Interval: strconv.Itoa(int(a.Interval / time.Minute)), PasswordSet: true}
}

func (s *Server) fetchList(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template, status int, errMsg, flash string, form *fetchForm) {
	f := s.opt.Mail.Fetch
	if f == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("External accounts are not available on this server right now; try again later."))
		return
	}
	list, err := f.Store().List(r.Context(), c.ref)
	if err != nil {
		s.log.Error("webmail: fetch list", "account", c.p.acct.Address.String(), "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("External accounts are not available right now; try again in a moment."))
		return
	}
	d := fetchPage{mailPage: s.pageOf(r.Context(), c, "External accounts", 0), Modes: []string{"starttls", "implicit", "none"}}
	for _, a := range list {
		row := fetchRow{Account: a, TLSName: a.TLS.String(), Interval: int(a.Interval / time.Minute),
			LastRun: c.ui.Date(a.LastRun), NextRun: c.ui.Date(a.NextRun)}
		row.LastError = c.ui.storedReason(a.LastError)
		d.Accounts = append(d.Accounts, row)
	}
	if form != nil {
		d.Edit = *form
	} else {
		d.Edit = fetchForm{TLS: "starttls", Mode: "keep", Interval: "15", Folder: "INBOX"}
	}
	d.Back = "/mail/fetch"
	d.Error, d.Flash = errMsg, flash
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "fetch", d); err != nil {
		s.log.Error("webmail: render", "template", "fetch", "err", err)
	}
}

// fetchFormOf reads the add/edit form.
func fetchFormOf(r *http.Request) fetchForm {
	f := fetchForm{Host: r.PostFormValue("host"), Port: r.PostFormValue("port"), TLS: r.PostFormValue("tls"), User: r.PostFormValue("user"),
		Folder: r.PostFormValue("folder"), Mode: r.PostFormValue("mode"), Interval: r.PostFormValue("interval")}
	f.ID, _ = strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	return f
}

// account builds the account the form describes (Secret nil: keep the stored one).
func (f fetchForm) account(c *mailCtx) (fetch.Account, error) {
	a := fetch.Account{ID: f.ID, Owner: c.ref, Host: f.Host, User: f.User, Folder: f.Folder, Keep: f.Mode != "delete"}
	if a.Folder == "INBOX" {
		a.Folder = ""
	}
	var ok bool
	if a.TLS, ok = fetch.ParseTLS(f.TLS); !ok {
		return a, fetch.Invalid("choose a TLS mode")
	}
	if p := strings.TrimSpace(f.Port); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return a, fetch.Invalid("the port is not a number")
		}
		a.Port = n
	}
	if iv := strings.TrimSpace(f.Interval); iv != "" {
		n, err := strconv.Atoi(iv)
		if err != nil || n <= 0 {
			return a, fetch.Invalid("the interval is not a number of minutes")
		}
		a.Interval = time.Duration(n) * time.Minute
	}
	return fetch.Normalize(a), nil
}

func (s *Server) fetchPost(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template) {
	f := s.opt.Mail.Fetch
	if f == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("External accounts are not available on this server right now; try again later."))
		return
	}
	ctx := r.Context()
	back := func(saved string) {
		http.Redirect(w, r, "/mail/fetch?"+url.Values{"saved": {saved}}.Encode(), http.StatusSeeOther)
	}
	id, _ := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	switch op := r.PostFormValue("op"); op {
	case "save":
		form := fetchFormOf(r)
		err := s.fetchSave(ctx, c, form, r.PostFormValue("password"))
		if err == nil {
			back("saved")
			return
		}
		form.PasswordSet = form.ID != 0
		s.fetchFail(w, r, c, t, err, &form)
	case "delete":
		if err := f.Store().Delete(ctx, c.ref, id); err != nil {
			s.fetchFail(w, r, c, t, err, nil)
			return
		}
		back("deleted")
	case "test":
		form := fetchFormOf(r)
		form.PasswordSet = form.ID != 0
		msg, err := s.fetchTest(ctx, c, form, r.PostFormValue("password"))
		if err != nil {
			s.fetchFail(w, r, c, t, err, &form)
			return
		}
		s.fetchList(w, r, c, t, http.StatusOK, "", msg, &form)
	case "fetch":
		a, err := f.Store().Get(ctx, c.ref, id)
		if err != nil {
			s.fetchFail(w, r, c, t, err, nil)
			return
		}
		res, err := f.Fetch(ctx, a)
		if err != nil {
			s.fetchFail(w, r, c, t, err, nil)
			return
		}
		s.fetchList(w, r, c, t, http.StatusOK, "", c.ui.Tf("Fetched %d new message(s) from %s.", res.Fetched, a.Host), nil)
	default:
		s.mailError(w, r, c, http.StatusBadRequest, c.ui.T("Unknown action."))
	}
}

// fetchSave adds or updates the form's account; a blank password keeps the stored one.
func (s *Server) fetchSave(ctx context.Context, c *mailCtx, form fetchForm, password string) error {
	f := s.opt.Mail.Fetch
	a, err := form.account(c)
	if err != nil {
		return err
	}
	if password != "" {
		key, err := f.Key(ctx)
		if err != nil {
			return err
		}
		if a.Secret, err = fetch.Seal(key, password); err != nil {
			return err
		}
	}
	if a.ID == 0 {
		_, err = f.Store().Add(ctx, a)
	} else {
		err = f.Store().Update(ctx, a)
	}
	return err
}

// fetchTest logs in with the form's settings (the stored password when the field is
// blank) and says how many messages wait.
func (s *Server) fetchTest(ctx context.Context, c *mailCtx, form fetchForm, password string) (string, error) {
	f := s.opt.Mail.Fetch
	a, err := form.account(c)
	if err != nil {
		return "", err
	}
	if password == "" && a.ID != 0 {
		stored, err := f.Store().Get(ctx, c.ref, a.ID)
		if err != nil {
			return "", err
		}
		key, err := f.Key(ctx)
		if err != nil {
			return "", err
		}
		if password, err = fetch.Open(key, stored.Secret); err != nil {
			return "", err
		}
	}
	if password == "" {
		return "", fetch.Invalid("enter the password to test")
	}
	a.Secret = []byte{1} // validated, never used: Test takes the password itself
	if err := fetch.Validate(a); err != nil {
		return "", err
	}
	n, err := f.Test(ctx, a, password)
	if err != nil {
		return "", &fetchTestError{err}
	}
	return c.ui.Tf("Test passed: logged in to %s as %s; %d message(s) waiting.", a.Addr(), a.User, n), nil
}

// errFetchTest is a failed "Test" (fetchTestError).
var errFetchTest = errors.New("test failed")

// fetchTestError is what fetch.Fetcher.Test returned; errors.Is(err, errFetchTest).
type fetchTestError struct{ err error }

func (e *fetchTestError) Error() string        { return errFetchTest.Error() + ": " + e.err.Error() }
func (e *fetchTestError) Unwrap() error        { return e.err }
func (e *fetchTestError) Is(target error) bool { return target == errFetchTest }

// fetchRemote is the text of a remote server's refusal or a failed connection: a failed
// test says so, the POP3 server's refusal is worded in the page's language with the
// server's own text, a connection failure is the network's text.
func (c *mailCtx) fetchRemote(err error) string {
	prefix := ""
	if te := (*fetchTestError)(nil); errors.As(err, &te) {
		prefix, err = c.ui.T("test failed: "), te.err
	}
	return prefix + c.ui.reasonOr(err, err.Error())
}

// fetchFail renders the page with a message: bad input is 400 with its reason, a remote
// refusal or an unreachable server 502 with the server's text, a full mailbox 507, a busy
// lease 409, a missing account 404, a local fault 503.
func (s *Server) fetchFail(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template, err error, form *fetchForm) {
	var re *fetch.RemoteError
	switch {
	case errors.Is(err, fetch.ErrNotFound):
		s.mailError(w, r, c, http.StatusNotFound, c.ui.T("No such external account."))
	case errors.Is(err, fetch.ErrInvalid):
		s.fetchList(w, r, c, t, http.StatusBadRequest, c.ui.reasonOr(err, strings.TrimPrefix(err.Error(), "fetch: ")), "", form)
	case errors.Is(err, fetch.ErrForbidden):
		// The guard refused the host (fetch.Forbidden): the user's input, nothing connected.
		msg := c.ui.T("The server does not connect to that address.")
		if why, ok := c.ui.reason(err); ok {
			msg = c.ui.Tf("The remote server was %s.", why)
		}
		s.fetchList(w, r, c, t, http.StatusBadRequest, msg, "", form)
	case errors.Is(err, fetch.ErrBusy):
		s.fetchList(w, r, c, t, http.StatusConflict, c.ui.reasonOr(err, err.Error()), "", form)
	case errors.Is(err, fetch.ErrMailboxFull):
		s.fetchList(w, r, c, t, http.StatusInsufficientStorage, c.ui.T("Fetching stopped: ")+c.ui.reasonOr(err, err.Error()), "", form)
	case errors.Is(err, errFetchTest), errors.As(err, &re), fetch.IsRemote(err):
		s.fetchList(w, r, c, t, http.StatusBadGateway, c.ui.T("The remote server: ")+c.fetchRemote(err), "", form)
	default:
		s.log.Error("webmail: fetch", "account", c.p.acct.Address.String(), "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("External accounts are not available right now; nothing was changed. Try again in a moment."))
	}
}
