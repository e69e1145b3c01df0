package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// The administration pages: domains, their users and aliases, all accounts, the audit
// log. Who may see and change what is decided by admin.Scoped alone: a domain admin who
// types another tenant's URL gets the 404 of the service layer, a form it should not
// have gets its 403, whatever the page showed.

// maxSearch bounds the accounts page.
const maxSearch = 500

func (s *Server) consoleAdminRoutes(mux *http.ServeMux) {
	const dom, acct = "/console/domains/{domain}", "/console/domains/{domain}/accounts/{id}"
	mux.HandleFunc("GET /console/{$}", s.consoleGET("console", "Console", s.fillHome))
	mux.HandleFunc("POST /console/domains", s.consolePOST("console", "Console", s.fillHome, s.actAddDomain))
	mux.HandleFunc("GET "+dom, s.consoleGET("domain", "Domain", s.fillDomain))
	mux.HandleFunc("POST "+dom+"/{op}", s.consolePOST("domain", "Domain", s.fillDomain, s.actDomain))
	mux.HandleFunc("GET "+dom+"/accounts.csv", s.consoleExport)
	mux.HandleFunc("GET "+acct, s.consoleGET("account", "Account", s.fillAccount))
	mux.HandleFunc("POST "+acct+"/{op}", s.consolePOST("account", "Account", s.fillAccount, s.actAccount))
	mux.HandleFunc("GET /console/accounts", s.consoleGET("accounts", "Accounts", s.fillAccounts))
	mux.HandleFunc("GET /console/audit", s.consoleGET("audit", "Audit log", s.fillAudit))
}

func (s *Server) fillHome(r *http.Request, p *principal, d *pageData) error {
	d.Nav = "home"
	if !d.Admin {
		return nil
	}
	ds, err := s.scoped(r, p).Domains(r.Context())
	if err != nil {
		return err
	}
	d.Domains = listOf(ds, viewDomain).Items
	return nil
}

func (s *Server) actAddDomain(_ http.ResponseWriter, r *http.Request, p *principal, _ *pageData) (string, error) {
	dm, err := s.scoped(r, p).CreateDomain(r.Context(), directory.Domain{Name: r.PostFormValue("name")})
	if err != nil {
		return "", err
	}
	return "/console/domains/" + url.PathEscape(dm.Name) + "?done=domain-created", nil
}

// fillDomain shows a domain with its users and aliases. A domain deleted by the action
// of this request is not an error of the page: the caller goes back home.
func (s *Server) fillDomain(r *http.Request, p *principal, d *pageData) error {
	sc := s.scoped(r, p)
	dm, err := sc.Domain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	v := viewDomain(dm)
	d.Domain, d.Title, d.Nav = &v, "Domain "+v.NameUnicode, "home"
	d.CanEdit = sc.Actor().CheckChangeDomains() == nil
	as, err := sc.Accounts(r.Context(), dm.Name)
	if err != nil {
		return err
	}
	d.Accounts = listOf(as, viewAccount).Items
	als, err := sc.Aliases(r.Context(), dm.Name)
	if err != nil {
		return err
	}
	d.Aliases = listOf(als, viewAlias).Items
	plan, err := sc.DomainPlan(r.Context(), dm.Name)
	if err != nil {
		return err
	}
	if plan != nil {
		v := viewPlan(*plan)
		d.Plan = &v
	}
	if d.CanEdit {
		ps, err := sc.Plans(r.Context())
		if err != nil && !errors.Is(err, admin.ErrNoPlans) {
			return err
		}
		for _, p := range ps {
			d.PlanNames = append(d.PlanNames, p.Name)
		}
	}
	return nil
}

// planView is a service plan as the pages and the API show it.
type planView struct {
	Name               string   `json:"name"`
	Description        string   `json:"description"`
	MailboxQuotaBytes  int64    `json:"mailbox_quota_bytes"`
	MaxMessageBytes    int64    `json:"max_message_bytes"`
	MaxAttachmentBytes int64    `json:"max_attachment_bytes"`
	MaxUsers           int      `json:"max_users"`
	DisabledServices   []string `json:"disabled_services"`
	SMS                bool     `json:"sms"`
	Antivirus          bool     `json:"antivirus"`
	Antispam           bool     `json:"antispam"`
}

func viewPlan(p directory.Plan) planView {
	return planView{Name: p.Name, Description: p.Description, MailboxQuotaBytes: p.MailboxQuotaBytes,
		MaxMessageBytes: p.MaxMessageBytes, MaxAttachmentBytes: p.MaxAttachmentBytes, MaxUsers: p.MaxUsers,
		DisabledServices: nonNilStrings(p.DisabledServices), SMS: p.SMS, Antivirus: p.Antivirus, Antispam: p.Antispam}
}

// actDomain performs the forms of the domain page by {op}.
func (s *Server) actDomain(_ http.ResponseWriter, r *http.Request, p *principal, d *pageData) (string, error) {
	sc := s.scoped(r, p)
	ctx := r.Context()
	name := r.PathValue("domain")
	page := "/console/domains/" + url.PathEscape(name)
	switch r.PathValue("op") {
	case "update":
		u, err := domainForm(r)
		if err != nil {
			return "", err
		}
		if _, err := sc.UpdateDomain(ctx, name, u); err != nil {
			return "", err
		}
		return page + "?done=domain-updated", nil
	case "plan":
		if _, err := sc.AssignPlan(ctx, name, r.PostFormValue("plan")); err != nil {
			return "", err
		}
		return page + "?done=domain-updated", nil
	case "delete":
		dm, err := sc.Domain(ctx, name)
		if err != nil {
			return "", err
		}
		if err := confirmed(r, dm.Name, mail.DomainUnicode(dm.Name)); err != nil {
			return "", err
		}
		if err := sc.DeleteDomain(ctx, dm.Name, r.PostFormValue("force") == "true"); err != nil {
			return "", err
		}
		return "/console/?done=domain-deleted", nil
	case "accounts":
		n, err := newAccountForm(r, sc, name)
		if err != nil {
			return "", err
		}
		a, err := sc.CreateAccount(ctx, n)
		if err != nil {
			return "", err
		}
		return page + "/accounts/" + strconv.FormatInt(a.ID, 10) + "?done=account-created", nil
	case "aliases":
		if _, err := sc.CreateAlias(ctx, name, strings.TrimSpace(r.PostFormValue("source")), splitList(r.PostFormValue("targets"))); err != nil {
			return "", err
		}
		return page + "?done=alias-created", nil
	case "import":
		return s.actImport(r, sc, name, d)
	case "broadcast":
		res, err := sc.Broadcast(ctx, name, r.PostFormValue("subject"), r.PostFormValue("body"))
		if err != nil {
			return "", err
		}
		d.Flash = fmt.Sprintf("Broadcast sent to %d accounts.", res.Delivered)
		if len(res.Failed) > 0 {
			d.Error = "Not delivered (over quota): " + strings.Join(res.Failed, ", ")
		}
		return "", nil
	case "alias-delete":
		if err := sc.DeleteAlias(ctx, name, r.PostFormValue("source")); err != nil {
			return "", err
		}
		return page + "?done=alias-deleted", nil
	}
	return "", errNotFound()
}

// confirmed checks the typed confirmation of a destructive form against the object's
// names.
func confirmed(r *http.Request, names ...string) error {
	got := strings.TrimSpace(r.PostFormValue("confirm"))
	for _, n := range names {
		if got != "" && strings.EqualFold(got, n) {
			return nil
		}
	}
	return apiErr(http.StatusBadRequest, "confirmation_required", "type %s into the confirmation field to delete it", names[0])
}

// domainForm reads the settings form of a domain: the fields the form has are set, the
// others left alone (a domain admin's form has fewer). A checkbox is sent after a hidden
// "false" of the same name, so the last value is its state.
func domainForm(r *http.Request) (admin.DomainUpdate, error) {
	var u admin.DomainUpdate
	f := r.PostForm
	if v := f["enabled"]; len(v) > 0 {
		on := v[len(v)-1] == "true"
		u.Enabled = &on
	}
	if f.Has("max_users") {
		n, err := parseCount("max_users", f.Get("max_users"))
		if err != nil {
			return u, err
		}
		u.MaxUsers = &n
	}
	for _, fl := range []struct {
		name string
		dst  **int64
	}{{"max_quota", &u.MaxQuotaBytes}, {"max_message", &u.MaxMessageBytes}, {"max_attachment", &u.MaxAttachmentBytes}} {
		if !f.Has(fl.name) {
			continue
		}
		n, err := parseSize(fl.name, f.Get(fl.name))
		if err != nil {
			return u, err
		}
		*fl.dst = &n
	}
	if f.Has("services_form") {
		dis := disabledServices(r)
		u.DisabledServices = &dis
	}
	return u, nil
}

// disabledServices are the services whose checkbox (name "service") was not ticked.
func disabledServices(r *http.Request) []string {
	on := r.PostForm["service"]
	dis := []string{}
	for _, sv := range directory.Services() {
		if !slices.Contains(on, sv) {
			dis = append(dis, sv)
		}
	}
	return dis
}

// splitList splits a comma or space separated field.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t' })
}

func newAccountForm(r *http.Request, sc *admin.Scoped, domain string) (directory.NewAccount, error) {
	var n directory.NewAccount
	dom, err := mail.ParseDomain(domain)
	if err != nil {
		return n, errNotFound()
	}
	if err := sc.Actor().CheckDomain(dom); err != nil {
		return n, err
	}
	raw := strings.TrimSpace(r.PostFormValue("address"))
	if !strings.Contains(raw, "@") {
		raw += "@" + dom
	}
	addr, err := mail.Parse(raw)
	if err != nil {
		return n, apiErr(http.StatusBadRequest, "invalid", "address: %v", err)
	}
	if addr.Domain != dom {
		return n, apiErr(http.StatusBadRequest, "invalid", "address %s is not in %s", addr, dom)
	}
	quota, err := parseSize("quota", r.PostFormValue("quota"))
	if err != nil {
		return n, err
	}
	role := directory.Role(r.PostFormValue("role"))
	if role == "" {
		role = directory.RoleUser
	}
	if !role.Valid() {
		return n, apiErr(http.StatusBadRequest, "invalid", "role %q", role)
	}
	return directory.NewAccount{Address: addr, Password: r.PostFormValue("password"), QuotaBytes: quota, Role: role}, nil
}

func (s *Server) fillAccount(r *http.Request, p *principal, d *pageData) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	a, err := s.scoped(r, p).Account(r.Context(), r.PathValue("domain"), id)
	if err != nil {
		return err
	}
	v := viewAccountInfo(a)
	d.Account, d.Title, d.Nav = &v, "Account "+v.Address, "accounts"
	return nil
}

// actAccount performs the forms of the account page by {op}.
func (s *Server) actAccount(_ http.ResponseWriter, r *http.Request, p *principal, _ *pageData) (string, error) {
	sc := s.scoped(r, p)
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return "", err
	}
	domain := r.PathValue("domain")
	page := "/console/domains/" + url.PathEscape(domain) + "/accounts/" + strconv.FormatInt(id, 10)
	var u directory.AccountUpdate
	switch r.PathValue("op") {
	case "enabled":
		on := r.PostFormValue("enabled") == "true"
		u.Enabled = &on
	case "password":
		pw := r.PostFormValue("password")
		u.Password = &pw
	case "quota":
		q, err := parseSize("quota", r.PostFormValue("quota"))
		if err != nil {
			return "", err
		}
		u.QuotaBytes = &q
	case "role":
		role := directory.Role(r.PostFormValue("role"))
		if !role.Valid() {
			return "", apiErr(http.StatusBadRequest, "invalid", "role %q", role)
		}
		doms := []string{}
		for _, dn := range splitList(r.PostFormValue("admin_domains")) {
			n, err := mail.ParseDomain(dn)
			if err != nil {
				return "", apiErr(http.StatusBadRequest, "invalid", "admin domain %q: %v", dn, err)
			}
			doms = append(doms, n)
		}
		u.Role, u.AdminDomains = &role, &doms
	case "services":
		dis := disabledServices(r)
		u.DisabledServices = &dis
	case "delete":
		t, err := sc.Account(ctx, domain, id)
		if err != nil {
			return "", err
		}
		if err := confirmed(r, t.Address.String()); err != nil {
			return "", err
		}
		if err := sc.DeleteAccount(ctx, domain, id); err != nil {
			return "", err
		}
		return "/console/domains/" + url.PathEscape(t.Address.Domain) + "?done=account-deleted", nil
	default:
		return "", errNotFound()
	}
	// The current password is asked on the self-service page, not here: an actor
	// resetting its own password through this form is refused by UpdateAccount.
	if _, err := sc.UpdateAccount(ctx, domain, id, u, ""); err != nil {
		return "", err
	}
	return page + "?done=account-updated", nil
}

func (s *Server) fillAccounts(r *http.Request, p *principal, d *pageData) error {
	d.Nav, d.Query = "accounts", r.URL.Query()
	as, err := s.scoped(r, p).SearchAccounts(r.Context(), r.URL.Query().Get("q"), maxSearch)
	if err != nil {
		return err
	}
	d.Accounts = listOf(as, viewAccount).Items
	return nil
}

func (s *Server) fillAudit(r *http.Request, p *principal, d *pageData) error {
	d.Nav, d.Query = "audit", r.URL.Query()
	q, err := auditQuery(r)
	if err != nil {
		return err
	}
	if q.Limit == 0 {
		q.Limit = 200
	}
	es, err := s.scoped(r, p).Audit(r.Context(), q)
	if err != nil {
		return err
	}
	d.Audit = listOf(es, viewAudit).Items
	return nil
}

// actImport creates the accounts of an uploaded (or pasted) CSV file and shows how many.
func (s *Server) actImport(r *http.Request, sc *admin.Scoped, domain string, d *pageData) (string, error) {
	var file io.Reader = strings.NewReader(r.PostFormValue("csv"))
	if r.MultipartForm != nil {
		if fh := r.MultipartForm.File["file"]; len(fh) > 0 && fh[0].Size > 0 {
			f, err := fh[0].Open()
			if err != nil {
				return "", err
			}
			defer func() {
				if err := f.Close(); err != nil {
					s.log.Debug("web: close upload", "err", err)
				}
			}()
			file = f
		}
	}
	dom, err := sc.Domain(r.Context(), domain)
	if err != nil {
		return "", err
	}
	created, err := s.importAccounts(r, sc, dom.Name, file)
	if err != nil {
		return "", err
	}
	d.Flash = fmt.Sprintf("Imported %d accounts.", len(created.Items))
	return "", nil
}

// consoleExport downloads a domain's accounts as CSV.
func (s *Server) consoleExport(w http.ResponseWriter, r *http.Request) {
	p := s.pageSession(r)
	if p == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	sc := s.scoped(r, p)
	dm, err := sc.Domain(r.Context(), r.PathValue("domain"))
	var buf bytes.Buffer
	if err == nil {
		err = sc.ExportAccounts(r.Context(), dm.Name, &buf)
	}
	if err != nil {
		s.renderError(w, r, s.baseData(p, "Export"), err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": dm.Name + "-accounts.csv"}))
	if _, err := w.Write(buf.Bytes()); err != nil {
		s.log.Debug("web: write csv", "err", err)
	}
}
