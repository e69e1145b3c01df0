package web

import "net/http"

// Handlers not written yet (temporary, keeps the package building).

func (s *Server) mailList(w http.ResponseWriter, r *http.Request, c *mailCtx)        {}
func (s *Server) mailRead(w http.ResponseWriter, r *http.Request, c *mailCtx)        {}
func (s *Server) mailFrame(w http.ResponseWriter, r *http.Request, c *mailCtx)       {}
func (s *Server) mailPart(w http.ResponseWriter, r *http.Request, c *mailCtx)        {}
func (s *Server) mailRaw(w http.ResponseWriter, r *http.Request, c *mailCtx)         {}
func (s *Server) mailEML(w http.ResponseWriter, r *http.Request, c *mailCtx)         {}
func (s *Server) mailAct(w http.ResponseWriter, r *http.Request, c *mailCtx)         {}
func (s *Server) mailFolderAct(w http.ResponseWriter, r *http.Request, c *mailCtx)   {}
func (s *Server) mailCompose(w http.ResponseWriter, r *http.Request, c *mailCtx)     {}
func (s *Server) mailComposePost(w http.ResponseWriter, r *http.Request, c *mailCtx) {}
func (s *Server) mailSearch(w http.ResponseWriter, r *http.Request, c *mailCtx)      {}
func (s *Server) mailError(w http.ResponseWriter, r *http.Request, c *mailCtx, status int, msg string) {
	http.Error(w, msg, status)
}

var mailFuncs = map[string]any{}
