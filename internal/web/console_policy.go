package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"mailgrid/internal/admin"
	"mailgrid/internal/filter"
)

// The console pages of service plans (system admins), filter policy and quarantine (a
// domain's under /console/domains/{domain}/filters, the system-wide list and rules and
// every domain's held mail under /console/system) and DNS records. As everywhere in the
// console, admin.Scoped decides; the pages only hide forms a role cannot use.

// policyData is what the plans, filters and dns pages show.
type policyData struct {
	Domain      string // "" on the system page
	Blocks      []blockView
	Rules       []ruleView
	Switches    *switchesView
	Held        []heldView
	DNS         []admin.DNSCheck // Status "" when not checked
	Checked     bool
	Plans       []planView
	PlanDomains []string
	// Servers is the filter servers page's data (console_filterservers.go).
	Servers *filterServersView
	// Edit is the rule being edited (console_policy_rules.go).
	Edit *ruleEdit
	// Choices of the rule form.
	Fields, Ops, Actions, Kinds []string
}

func (s *Server) consolePolicyRoutes(mux *http.ServeMux) {
	const dom = "/console/domains/{domain}"
	mux.HandleFunc("GET /console/plans", s.consoleGET("plans", "Service plans", s.fillPlans))
	mux.HandleFunc("POST /console/plans", s.consolePOST("plans", "Service plans", s.fillPlans, s.actCreatePlan))
	mux.HandleFunc("GET /console/plans/{plan}", s.consoleGET("plans", "Service plan", s.fillPlans))
	mux.HandleFunc("POST /console/plans/{plan}/{op}", s.consolePOST("plans", "Service plan", s.fillPlans, s.actPlan))
	mux.HandleFunc("GET /console/system", s.consoleGET("filters", "System filters", s.fillFilters))
	mux.HandleFunc("POST /console/system/{op}", s.consolePOST("filters", "System filters", s.fillFilters, s.actFilters))
	mux.HandleFunc("GET "+dom+"/filters", s.consoleGET("filters", "Filters", s.fillFilters))
	mux.HandleFunc("POST "+dom+"/filters/{op}", s.consolePOST("filters", "Filters", s.fillFilters, s.actFilters))
	mux.HandleFunc("GET "+dom+"/dns", s.consoleGET("dns", "DNS records", s.fillDNS))
	s.consoleFilterServerRoutes(mux)
}

// fillPlans lists the plans, and with {plan} shows that one with its domains.
func (s *Server) fillPlans(r *http.Request, p *principal, d *pageData) error {
	sc := s.scoped(r, p)
	d.Nav = "plans"
	ps, err := sc.Plans(r.Context())
	if err != nil {
		return policyErr(err)
	}
	pd := &policyData{Plans: listOf(ps, viewPlan).Items}
	d.Policy = pd
	if name := r.PathValue("plan"); name != "" {
		pl, ds, err := sc.Plan(r.Context(), name)
		if err != nil {
			if r.Method == http.MethodPost && r.PathValue("op") == "delete" {
				return nil // a refused delete of a plan that is gone meanwhile: show the list
			}
			return policyErr(err)
		}
		v := viewPlan(pl)
		d.Plan, d.Title, pd.PlanDomains = &v, "Service plan "+pl.Name, nonNilStrings(ds)
	}
	return nil
}

// planForm reads the plan form.
func planForm(r *http.Request) (planReq, error) {
	q := planReq{Name: strings.TrimSpace(r.PostFormValue("name")), Description: strings.TrimSpace(r.PostFormValue("description")),
		DisabledServices: r.PostForm["disabled"], SMS: r.PostFormValue("sms") == "on",
		Antivirus: r.PostFormValue("antivirus") == "on", Antispam: r.PostFormValue("antispam") == "on"}
	var err error
	if q.MailboxQuotaBytes, err = parseSize("mailbox quota", r.PostFormValue("mailbox_quota")); err != nil {
		return q, err
	}
	if q.MaxMessageBytes, err = parseSize("max message size", r.PostFormValue("max_message")); err != nil {
		return q, err
	}
	if q.MaxAttachmentBytes, err = parseSize("max attachment size", r.PostFormValue("max_attachment")); err != nil {
		return q, err
	}
	q.MaxUsers, err = parseCount("max users", r.PostFormValue("max_users"))
	return q, err
}

func (s *Server) actCreatePlan(_ http.ResponseWriter, r *http.Request, p *principal, _ *pageData) (string, error) {
	q, err := planForm(r)
	if err != nil {
		return "", err
	}
	out, err := s.scoped(r, p).CreatePlan(r.Context(), q.plan())
	if err != nil {
		return "", policyErr(err)
	}
	return "/console/plans/" + url.PathEscape(out.Name) + "?done=plan-created", nil
}

func (s *Server) actPlan(_ http.ResponseWriter, r *http.Request, p *principal, _ *pageData) (string, error) {
	sc := s.scoped(r, p)
	name := r.PathValue("plan")
	switch r.PathValue("op") {
	case "update":
		q, err := planForm(r)
		if err != nil {
			return "", err
		}
		q.Name = name
		if _, _, err := sc.UpdatePlan(r.Context(), q.plan()); err != nil {
			return "", policyErr(err)
		}
		return "/console/plans/" + url.PathEscape(name) + "?done=plan-updated", nil
	case "delete":
		if r.PostFormValue("confirm") != name {
			return "", apiErr(http.StatusBadRequest, "invalid", "type the plan's name to delete it")
		}
		if err := sc.DeletePlan(r.Context(), name); err != nil {
			return "", policyErr(err)
		}
		return "/console/plans?done=plan-deleted", nil
	}
	return "", errNotFound()
}

// fillFilters shows a domain's block list, rules, switches and held mail, or (no
// {domain}) the system-wide list and rules and every domain's held mail.
func (s *Server) fillFilters(r *http.Request, p *principal, d *pageData) error {
	ctx := r.Context()
	f := s.filters(r, p)
	name := r.PathValue("domain")
	pd := &policyData{Fields: []string{"from", "to", "subject", "size", "header"},
		Ops:     []string{"contains", "is", "matches", "exists", "over", "under"},
		Actions: []string{"reject", "quarantine", "fileinto", "addheader", "drop"},
		Kinds:   []string{"sender", "sender-domain", "ip"}}
	d.Nav = "system"
	if name != "" {
		dm, err := s.scoped(r, p).Domain(ctx, name)
		if err != nil {
			return err
		}
		v := viewDomain(dm)
		d.Domain, d.Title, d.Nav, pd.Domain = &v, "Filters of "+v.NameUnicode, "home", dm.Name
	}
	d.Policy = pd
	bs, err := f.Blocks(ctx, pd.Domain)
	if err != nil {
		return policyErr(err)
	}
	rs, err := f.Rules(ctx, pd.Domain)
	if err != nil {
		return policyErr(err)
	}
	hs, err := f.Held(ctx, pd.Domain, 200)
	if err != nil {
		return policyErr(err)
	}
	pd.Blocks, pd.Rules, pd.Held = listOf(bs, viewBlock).Items, listOf(rs, viewRule).Items, listOf(hs, viewHeld).Items
	if err := s.fillRuleEdit(r, p, d); err != nil {
		return err
	}
	if pd.Domain != "" {
		sw, err := f.Switches(ctx, pd.Domain)
		if err == nil {
			pd.Switches = &switchesView{Antivirus: !sw.NoAntivirus, Antispam: !sw.NoAntispam}
		} else if policyErr(err) == err {
			return err // not the "no switches kept here" of a driver without them
		}
	}
	return nil
}

// actFilters performs the forms of the filters pages by {op}.
func (s *Server) actFilters(_ http.ResponseWriter, r *http.Request, p *principal, _ *pageData) (string, error) {
	ctx := r.Context()
	f := s.filters(r, p)
	domain := r.PathValue("domain")
	page := "/console/system"
	if domain != "" {
		page = "/console/domains/" + url.PathEscape(domain) + "/filters"
	}
	var done string
	var err error
	switch r.PathValue("op") {
	case "block-add":
		_, err = f.AddBlock(ctx, domain, r.PostFormValue("kind"), r.PostFormValue("value"), r.PostFormValue("note"))
		done = "block-added"
	case "block-remove":
		err = f.RemoveBlock(ctx, domain, r.PostFormValue("kind"), r.PostFormValue("value"))
		done = "block-removed"
	case "rule-add":
		var rule filter.DomainRule
		if rule, err = ruleForm(r, domain); err == nil {
			_, err = f.PutRule(ctx, rule)
		}
		done = "rule-added"
	case "rule-update":
		err, done = s.actRuleUpdate(r, p, domain), "rule-updated"
	case "rule-delete":
		err = f.DeleteRule(ctx, domain, idField(r))
		done = "rule-deleted"
	case "switches":
		err = f.SetSwitches(ctx, domain, filter.Switches{NoAntivirus: r.PostFormValue("antivirus") != "on",
			NoAntispam: r.PostFormValue("antispam") != "on"})
		done = "switches-saved"
	case "release", "held-delete":
		// The system page acts on any domain's held mail: the form names it.
		hd := domain
		if hd == "" {
			hd = r.PostFormValue("domain")
		}
		if r.PathValue("op") == "release" {
			err, done = f.ReleaseHeld(ctx, hd, idField(r)), "held-released"
		} else {
			err, done = f.DeleteHeld(ctx, hd, idField(r)), "held-deleted"
		}
	default:
		return "", errNotFound()
	}
	if err != nil {
		return "", policyErr(err)
	}
	return page + "?done=" + done, nil
}

// idField is the form's id field, 0 (never found) when it is no id.
func idField(r *http.Request) int64 {
	id, _ := formID(r)
	return id
}

// ruleForm reads the rule form: one condition (the API takes several).
func ruleForm(r *http.Request, domain string) (filter.DomainRule, error) {
	c := filter.Condition{Field: filter.RuleField(r.PostFormValue("field")), Op: filter.RuleOp(r.PostFormValue("op")),
		Value: strings.TrimSpace(r.PostFormValue("value")), Not: r.PostFormValue("not") == "on"}
	if c.Field == filter.FieldHeader {
		c.Header = strings.TrimSpace(r.PostFormValue("header"))
	}
	if c.Field == filter.FieldSize && c.Value != "" {
		n, err := parseSize("size", c.Value)
		if err != nil {
			return filter.DomainRule{}, err
		}
		c.Value = strconv.FormatInt(n, 10)
	}
	pos, err := parseCount("position", r.PostFormValue("position"))
	if err != nil {
		return filter.DomainRule{}, err
	}
	return filter.DomainRule{Domain: domain, Name: r.PostFormValue("name"), Position: pos, Enabled: true,
		Conditions: []filter.Condition{c}, Action: filter.RuleAction(r.PostFormValue("action")), Arg: r.PostFormValue("arg")}, nil
}

// fillDNS shows the records a domain needs; ?check=1 asks the resolver about each.
func (s *Server) fillDNS(r *http.Request, p *principal, d *pageData) error {
	sc := s.scoped(r, p)
	dm, err := sc.Domain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	v := viewDomain(dm)
	d.Domain, d.Title, d.Nav = &v, "DNS records of "+v.NameUnicode, "home"
	pd := &policyData{Domain: dm.Name}
	d.Policy = pd
	if r.URL.Query().Get("check") != "" {
		cs, err := sc.CheckDNS(r.Context(), dm.Name, s.dnsSource())
		if err != nil {
			return policyErr(err)
		}
		pd.DNS, pd.Checked = cs, true
		return nil
	}
	recs, err := sc.DNSRecords(r.Context(), dm.Name, s.dnsSource())
	if err != nil {
		return policyErr(err)
	}
	for _, rc := range recs {
		pd.DNS = append(pd.DNS, admin.DNSCheck{DNSRecord: rc})
	}
	return nil
}
