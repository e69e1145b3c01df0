package web

import (
	"fmt"
	"html/template"
	"net/http"
	"time"

	"mailgrid/internal/store"
)

// Template helpers of the webmail pages.

var mailFuncs = template.FuncMap{
	"size": mailSize,
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04")
	},
	"actionsData": func(d mailPage) actionsData {
		a := actionsData{Folders: d.Folders, UI: d.UI}
		if d.Folder != nil {
			a.InTrash, a.InJunk = d.Folder.SpecialUse == store.Trash, d.Folder.SpecialUse == store.Junk
		}
		return a
	},
	"rowsData": func(d mailPage, sortable, showFolder bool) rowsData {
		r := rowsData{Rows: d.Rows, Sortable: sortable && d.Folder != nil, ShowFolder: showFolder, UI: d.UI}
		if r.Sortable {
			id := d.Folder.ID
			r.SortFrom, r.SortSubject = d.List.SortURL(id, "from"), d.List.SortURL(id, "subject")
			r.SortDate, r.SortSize = d.List.SortURL(id, "date"), d.List.SortURL(id, "size")
		}
		return r
	},
}

type actionsData struct {
	Folders         []folderView
	InTrash, InJunk bool
	UI              uiPrefs
}

type rowsData struct {
	Rows                                      []rowView
	Sortable, ShowFolder                      bool
	SortFrom, SortSubject, SortDate, SortSize string
	UI                                        uiPrefs
}

// mailSize is a byte count for people.
func mailSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d kB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// mailError renders msg as an error page with status (the folder list when c has one).
func (s *Server) mailError(w http.ResponseWriter, r *http.Request, c *mailCtx, status int, msg string) {
	if c == nil || c.a == nil {
		http.Error(w, msg, status)
		return
	}
	d := mailPage{Title: "Error"}
	if c.p != nil && c.st != nil {
		d = s.pageOf(r.Context(), c, "Error", 0)
	} else if c.p != nil {
		d.CSRF, d.Me = c.p.csrf(), c.p.acct.Address.String()
	}
	d.Error = msg
	if r.Method == http.MethodPost {
		d.Back = backTo(r.PostFormValue("back"), "/mail/")
	}
	s.mailRender(w, c, status, "error", d)
}
