package web

import (
	"net/http"
)

// The nodes and shards page (/console/nodes, system admins): the node registry, the
// shards, and the migration journal with a form that starts a user move or copy in the
// background on this node and a cancel button per unfinished migration (admin_nodes.go
// has the API of the same calls). On the embedded single node the page says so and shows
// this node and its one shard.

// nodesPage is the page's data.
type nodesPage struct {
	View       nodesView
	Shards     []shardView
	Migrations []migrationView
	Targets    []string // active shards a migration may go to
}

func (s *Server) consoleNodeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/nodes", s.consoleGET("nodes", "Nodes and shards", s.fillNodes))
	mux.HandleFunc("POST /console/nodes/migrations", s.consolePOST("nodes", "Nodes and shards", s.fillNodes, s.startMigrationForm))
	mux.HandleFunc("POST /console/nodes/migrations/cancel", s.consolePOST("nodes", "Nodes and shards", s.fillNodes, s.cancelMigrationForm))
}

func (s *Server) fillNodes(r *http.Request, p *principal, d *pageData) error {
	d.Nav = "nodes"
	v, err := s.nodesOf(r, p)
	if err != nil {
		return err
	}
	c := s.scoped(r, p)
	sh, err := c.Shards(r.Context())
	if err != nil {
		return nodesErr(err)
	}
	ms, err := c.Migrations(r.Context())
	if err != nil {
		return nodesErr(err)
	}
	np := &nodesPage{View: v, Shards: listOf(sh, viewShard).Items, Migrations: listOf(ms, viewMigration).Items}
	for _, x := range np.Shards {
		if x.State == "active" {
			np.Targets = append(np.Targets, x.Name)
		}
	}
	d.Nodes = np
	return nil
}

func (s *Server) startMigrationForm(_ http.ResponseWriter, r *http.Request, p *principal, _ *pageData) (string, error) {
	_, err := s.startMigration(r, p, startMigrationRequest{Address: r.PostFormValue("address"),
		Target: r.PostFormValue("target"), Kind: r.PostFormValue("kind")})
	if err != nil {
		return "", err
	}
	return "/console/nodes?done=migration-started", nil
}

func (s *Server) cancelMigrationForm(_ http.ResponseWriter, r *http.Request, p *principal, _ *pageData) (string, error) {
	if _, err := s.cancelMigration(r, p, r.PostFormValue("id")); err != nil {
		return "", err
	}
	return "/console/nodes?done=migration-cancelled", nil
}
