package web

import (
	"net/http"
	"slices"
	"strings"
)

// Who may call a route.
const (
	AuthPublic  = "public"  // no credential (login)
	AuthSession = "session" // a signed-in browser session only (credentials, tokens, TOTP)
	AuthAny     = "any"     // a session, or a bearer token that has the route's scope
)

// Scopes of API tokens. A token never does more than its account's role allows: the
// scope narrows, the role (checked on every call) bounds.
const (
	ScopeSelfRead   = "self:read"   // the caller's own account (/me)
	ScopeAdminRead  = "admin:read"  // read domains, accounts, aliases, audit within the role
	ScopeAdminWrite = "admin:write" // change them within the role
)

// Scopes lists every scope.
func Scopes() []string { return []string{ScopeAdminRead, ScopeAdminWrite, ScopeMail, ScopeSelfRead} }

// Route describes one API route: the table the router, the OpenAPI test and the tenant
// isolation test are built from.
type Route struct {
	Method string
	Path   string // net/http pattern syntax: /api/v1/domains/{domain}
	Auth   string // AuthPublic, AuthSession, AuthAny
	Scope  string // for AuthAny: the token scope needed
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p *principal) error

type route struct {
	Route
	h handlerFunc
}

func (s *Server) apiRoutes() []route {
	r := func(method, path, auth, scope string, h handlerFunc) route {
		return route{Route{method, path, auth, scope}, h}
	}
	const d, a = "/api/v1/domains/{domain}", "/api/v1/domains/{domain}/accounts/{id}"
	base := []route{
		r("POST", "/api/v1/login", AuthPublic, "", s.apiLogin),
		r("POST", "/api/v1/logout", AuthSession, "", s.apiLogout),
		r("GET", "/api/v1/me", AuthAny, ScopeSelfRead, s.apiMe),
		r("GET", "/api/v1/me/sessions", AuthSession, "", s.apiSessions),
		r("DELETE", "/api/v1/me/sessions/{id}", AuthSession, "", s.apiDeleteSession),
		r("POST", "/api/v1/me/totp", AuthSession, "", s.apiTOTPStart),
		r("POST", "/api/v1/me/totp/confirm", AuthSession, "", s.apiTOTPConfirm),
		r("POST", "/api/v1/me/totp/disable", AuthSession, "", s.apiTOTPDisable),
		r("GET", "/api/v1/me/tokens", AuthSession, "", s.apiTokens),
		r("POST", "/api/v1/me/tokens", AuthSession, "", s.apiCreateToken),
		r("DELETE", "/api/v1/me/tokens/{id}", AuthSession, "", s.apiDeleteToken),
		r("GET", "/api/v1/domains", AuthAny, ScopeAdminRead, s.apiDomains),
		r("POST", "/api/v1/domains", AuthAny, ScopeAdminWrite, s.apiCreateDomain),
		r("GET", d, AuthAny, ScopeAdminRead, s.apiDomain),
		r("PATCH", d, AuthAny, ScopeAdminWrite, s.apiUpdateDomain),
		r("DELETE", d, AuthAny, ScopeAdminWrite, s.apiDeleteDomain),
		r("GET", d+"/accounts", AuthAny, ScopeAdminRead, s.apiAccounts),
		r("POST", d+"/accounts", AuthAny, ScopeAdminWrite, s.apiCreateAccount),
		r("GET", a, AuthAny, ScopeAdminRead, s.apiAccount),
		r("PATCH", a, AuthAny, ScopeAdminWrite, s.apiUpdateAccount),
		r("DELETE", a, AuthAny, ScopeAdminWrite, s.apiDeleteAccount),
		r("GET", d+"/aliases", AuthAny, ScopeAdminRead, s.apiAliases),
		r("POST", d+"/aliases", AuthAny, ScopeAdminWrite, s.apiCreateAlias),
		r("DELETE", d+"/aliases/{source}", AuthAny, ScopeAdminWrite, s.apiDeleteAlias),
		r("GET", "/api/v1/audit", AuthAny, ScopeAdminRead, s.apiAudit),
	}
	// Further route groups live beside their handlers: admin_routes.go (plans, import,
	// broadcast, DNS), admin_filterservers.go, mail_routes.go (the webmail's API).
	return slices.Concat(base, s.adminRoutes(), s.domainLifecycleRoutes(), s.filterServerRoutes(), s.nodeRoutes(), s.mailRoutes(), s.ssoRoutes())
}

// Routes returns the API route table.
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.apiRoutes() {
		out = append(out, r.Route)
	}
	return out
}

// buildHandler assembles the front-end: security headers around cross-origin protection
// around the API router, the console and the static assets.
func (s *Server) buildHandler() (http.Handler, error) {
	mux := http.NewServeMux()
	byPath := map[string][]route{}
	var paths []string
	for _, rt := range s.apiRoutes() {
		if _, ok := byPath[rt.Path]; !ok {
			paths = append(paths, rt.Path)
		}
		byPath[rt.Path] = append(byPath[rt.Path], rt)
	}
	for _, p := range paths {
		mux.Handle(p, s.dispatch(byPath[p]))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errNotFound())
	})
	s.consoleRoutes(mux)
	s.mailPages(mux)
	s.wellKnown(mux) // wellknown.go: MTA-STS policy, autoconfig, autodiscover
	s.ssoPages(mux)  // sso.go: single sign-on links
	cop := http.NewCrossOriginProtection()
	for _, o := range s.opt.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.deny(w, r, apiErr(http.StatusForbidden, "cross_origin", "cross-origin request refused"))
	}))
	return s.headers(cop.Handler(mux)), nil
}

// deny answers an error as JSON under /api/, as a short page elsewhere.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, e *apiError) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		s.writeError(w, r, e)
		return
	}
	http.Error(w, e.Message, e.Status)
}

// dispatch serves one path: by method (405 with Allow for the others, RFC 9110 15.5.6),
// then authentication, CSRF and scope, then the handler.
func (s *Server) dispatch(rs []route) http.Handler {
	var allow []string
	for _, r := range rs {
		allow = append(allow, r.Method)
	}
	slices.Sort(allow)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := slices.IndexFunc(rs, func(rt route) bool { return rt.Method == r.Method })
		if i < 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, apiErr(http.StatusMethodNotAllowed, "method_not_allowed", "allowed: %s", strings.Join(allow, ", ")))
			return
		}
		if err := s.serveRoute(w, r, rs[i]); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, rt route) error {
	if rt.Auth == AuthPublic {
		return rt.h(w, r, nil)
	}
	p, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if p == nil {
		return errUnauthenticated()
	}
	if p.token != nil {
		if rt.Auth == AuthSession {
			return apiErr(http.StatusForbidden, "session_required", "this route needs a signed-in session, not a token")
		}
		if !slices.Contains(p.token.Scopes, rt.Scope) {
			return apiErr(http.StatusForbidden, "insufficient_scope", "the token lacks scope %s", rt.Scope)
		}
	}
	if err := checkCSRF(r, p); err != nil {
		return err
	}
	return rt.h(w, r, p)
}
