package web

import (
	"errors"
	"net/http"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
)

// ssoRoutes are the API routes of a domain's single sign-on secret and SMS statistics.
// Reading the secret needs admin:write: it is a credential, not a setting.
func (s *Server) ssoRoutes() []route {
	r := func(method, path, auth, scope string, h handlerFunc) route {
		return route{Route{method, path, auth, scope}, h}
	}
	const d = "/api/v1/domains/{domain}"
	return []route{
		r("GET", d+"/sso-secret", AuthAny, ScopeAdminWrite, s.apiSSOSecret),
		r("POST", d+"/sso-secret", AuthAny, ScopeAdminWrite, s.apiSetSSOSecret),
		r("DELETE", d+"/sso-secret", AuthAny, ScopeAdminWrite, s.apiDeleteSSOSecret),
		r("GET", d+"/sms-stats", AuthAny, ScopeAdminRead, s.apiSMSStats),
	}
}

type ssoSecretView struct {
	Domain string `json:"domain"`
	Secret string `json:"secret"` // "": none, single sign-on is off
}

type ssoSecretReq struct {
	// Secret to use; "" generates a new random one (a rotation).
	Secret string `json:"secret"`
}

// apiSSOSecret answers the domain's secret (GET /api/v1/domains/{domain}/sso-secret);
// "" when it has none (single sign-on is off).
func (s *Server) apiSSOSecret(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc := s.scoped(r, p)
	dm, err := sc.Domain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	ss, ok := s.dir.(directory.SSOSecretStore)
	if !ok {
		return admin.ErrNoSSO
	}
	secret, err := ss.SSOSecret(r.Context(), dm.Name)
	if err != nil && !errors.Is(err, directory.ErrNotFound) {
		return err
	}
	s.writeJSON(w, http.StatusOK, ssoSecretView{Domain: dm.Name, Secret: secret})
	return nil
}

// apiSetSSOSecret sets the secret given, or generates a new one
// (POST /api/v1/domains/{domain}/sso-secret).
func (s *Server) apiSetSSOSecret(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req ssoSecretReq
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			return err
		}
	}
	sc := s.scoped(r, p)
	dom := r.PathValue("domain")
	var err error
	if req.Secret == "" {
		req.Secret, err = sc.SSOSecret(r.Context(), dom, true)
	} else {
		err = sc.SetSSOSecret(r.Context(), dom, req.Secret)
	}
	if err != nil {
		return err
	}
	dm, err := sc.Domain(r.Context(), dom)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, ssoSecretView{Domain: dm.Name, Secret: req.Secret})
	return nil
}

// apiDeleteSSOSecret removes the secret: links are refused
// (DELETE /api/v1/domains/{domain}/sso-secret).
func (s *Server) apiDeleteSSOSecret(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.scoped(r, p).SetSSOSecret(r.Context(), r.PathValue("domain"), ""); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type smsCountView struct {
	Day       string `json:"day"`
	AccountID int64  `json:"account_id"`
	Address   string `json:"address"`
	Notify    int64  `json:"notify"`
	Send      int64  `json:"send"`
}

type smsStatsView struct {
	Domain string         `json:"domain"`
	Since  string         `json:"since"`
	Notify int64          `json:"notify"` // totals
	Send   int64          `json:"send"`
	Items  []smsCountView `json:"items"`
}

// apiSMSStats answers the SMS sent for the domain's accounts per day since ?since=
// (YYYY-MM-DD; default 30 days ago) (GET /api/v1/domains/{domain}/sms-stats).
func (s *Server) apiSMSStats(w http.ResponseWriter, r *http.Request, p *principal) error {
	since := s.now().AddDate(0, 0, -30)
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return apiErr(http.StatusBadRequest, "invalid", "since: want YYYY-MM-DD")
		}
		since = t
	}
	sc := s.scoped(r, p)
	dm, err := sc.Domain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	cs, err := sc.SMSCounts(r.Context(), dm.Name, since)
	if err != nil {
		return err
	}
	v := smsStatsView{Domain: dm.Name, Since: directory.SMSDay(since), Items: []smsCountView{}}
	for _, c := range cs {
		v.Notify += c.Notify
		v.Send += c.Send
		v.Items = append(v.Items, smsCountView{Day: c.Day, AccountID: c.AccountID, Address: c.Address, Notify: c.Notify, Send: c.Send})
	}
	s.writeJSON(w, http.StatusOK, v)
	return nil
}
