package web

import (
	"net/http"
	"strings"
)

// csp allows scripts, styles and connections from this origin only: no inline script or
// style (htmx is a file, its indicator styles are switched off in the pages), no plugin,
// no framing by anyone (frame-ancestors 'none', CSP Level 2), forms posting only here,
// no <base> rewriting.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// headers sets the security headers on every response. X-Frame-Options DENY is the
// older browsers' form of frame-ancestors (RFC 7034); HSTS (RFC 6797) only over TLS.
func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store") // personal data and CSRF tokens: never cached
		}
		next.ServeHTTP(w, r)
	})
}
