package web

import (
	"net/http"
	"strconv"
	"strings"

	"mailgrid/internal/filter"
)

// Editing a filter rule on the domain and system filters pages: ?edit=ID shows the rule
// in a form (every condition, one blank row to add one, a condition whose field is
// emptied is removed); POST .../rule-update replaces it through the same
// ScopedFilters.PutRule the API's PUT uses. A refused change (filter.ErrInvalid: a bad
// size, a header test without a field name...) re-renders the form with what was typed
// and the reason inside it; nothing is stored.

// ruleEdit is the edit form's content.
type ruleEdit struct {
	ID         int64
	Name       string
	Position   int
	Enabled    bool
	MatchAny   bool
	Conditions []filter.Condition // the rule's, then one blank row
	Action     string
	Arg        string
	Error      string // why the last attempt was refused
}

func editOf(r filter.DomainRule) *ruleEdit {
	e := &ruleEdit{ID: r.ID, Name: r.Name, Position: r.Position, Enabled: r.Enabled, MatchAny: r.MatchAny,
		Conditions: append(append([]filter.Condition(nil), r.Conditions...), filter.Condition{}),
		Action:     string(r.Action), Arg: r.Arg}
	return e
}

// maxFormConditions bounds the condition rows read from an edit form.
const maxFormConditions = 50

// ruleEditForm reads the edit form: the rule it asks for, and the form as typed (to show
// again on a refusal).
func ruleEditForm(r *http.Request, domain string) (filter.DomainRule, *ruleEdit, error) {
	e := &ruleEdit{Name: strings.TrimSpace(r.PostFormValue("name")), Enabled: r.PostFormValue("enabled") == "on",
		MatchAny: r.PostFormValue("match_any") == "on", Action: r.PostFormValue("action"), Arg: r.PostFormValue("arg")}
	e.ID = idField(r)
	pos, perr := parseCount("position", r.PostFormValue("position"))
	e.Position = pos
	var conds []filter.Condition
	var cerr error
	for i := range maxFormConditions {
		n := strconv.Itoa(i)
		if _, ok := r.PostForm["field_"+n]; !ok {
			break
		}
		c := filter.Condition{Field: filter.RuleField(r.PostFormValue("field_" + n)), Op: filter.RuleOp(r.PostFormValue("op_" + n)),
			Header: strings.TrimSpace(r.PostFormValue("header_" + n)), Value: strings.TrimSpace(r.PostFormValue("value_" + n)),
			Not: r.PostFormValue("not_"+n) == "on"}
		if c.Field == "" {
			continue // emptied: removed
		}
		e.Conditions = append(e.Conditions, c)
		if c.Field != filter.FieldHeader {
			c.Header = ""
		}
		if c.Field == filter.FieldSize && c.Value != "" && cerr == nil {
			size, err := parseSize("size", c.Value)
			if err != nil {
				cerr = err
			}
			c.Value = strconv.FormatInt(size, 10)
		}
		conds = append(conds, c)
	}
	e.Conditions = append(e.Conditions, filter.Condition{})
	rule := filter.DomainRule{ID: e.ID, Domain: domain, Name: e.Name, Position: pos, Enabled: e.Enabled, MatchAny: e.MatchAny,
		Conditions: conds, Action: filter.RuleAction(e.Action), Arg: e.Arg}
	if perr != nil {
		return rule, e, perr
	}
	return rule, e, cerr
}

// actRuleUpdate replaces a rule from the edit form.
func (s *Server) actRuleUpdate(r *http.Request, p *principal, domain string) error {
	f := s.filters(r, p)
	rule, _, err := ruleEditForm(r, domain)
	if err != nil {
		return err
	}
	// The rule must be this page's: another domain's id is not found, as in the API.
	if _, err := f.Rule(r.Context(), domain, rule.ID); err != nil {
		return policyErr(err)
	}
	_, err = f.PutRule(r.Context(), rule)
	return policyErr(err)
}

// fillRuleEdit puts the edit form on the page: after a refused update the form as typed
// with the reason, else for ?edit=ID the stored rule.
func (s *Server) fillRuleEdit(r *http.Request, p *principal, d *pageData) error {
	pd := d.Policy
	if r.Method == http.MethodPost {
		if r.PathValue("op") != "rule-update" || d.Error == "" {
			return nil
		}
		_, e, _ := ruleEditForm(r, pd.Domain) // what was typed, whatever its faults
		e.Error = d.Error
		pd.Edit = e
		return nil
	}
	v := r.URL.Query().Get("edit")
	if v == "" {
		return nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return errNotFound()
	}
	rule, err := s.filters(r, p).Rule(r.Context(), pd.Domain, id)
	if err != nil {
		return policyErr(err)
	}
	pd.Edit = editOf(rule)
	return nil
}
