package web

// adminRoutes are the administration API routes beyond domains, accounts, aliases and
// audit (routes.go): service plans, CSV import/export, broadcast, DNS and filter servers.
func (s *Server) adminRoutes() []route { return nil }
