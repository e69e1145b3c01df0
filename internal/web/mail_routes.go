package web

import "net/http"

// mailRoutes are the webmail's JSON API routes.
func (s *Server) mailRoutes() []route { return nil }

// mailPages mounts the webmail's pages. "/" goes to the console for now.
func (s *Server) mailPages(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
	})
}
