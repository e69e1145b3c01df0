package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
)

// The nodes and shards API (system admins; admin/nodes.go): GET /api/v1/nodes (the node
// registry, or this node on the embedded single node), GET /api/v1/shards, GET
// /api/v1/migrations (the journal, newest first), POST /api/v1/migrations (start a move
// or copy in the background on the answering node: 202 with the journal row) and DELETE
// /api/v1/migrations?id=N (cancel an unfinished one). The migration's id is a query
// parameter, not a path segment: the route names no tenant resource.

func (s *Server) nodeRoutes() []route {
	return []route{
		{Route{"GET", "/api/v1/nodes", AuthAny, ScopeAdminRead}, s.apiNodes},
		{Route{"GET", "/api/v1/shards", AuthAny, ScopeAdminRead}, s.apiShards},
		{Route{"GET", "/api/v1/migrations", AuthAny, ScopeAdminRead}, s.apiMigrations},
		{Route{"POST", "/api/v1/migrations", AuthAny, ScopeAdminWrite}, s.apiStartMigration},
		{Route{"DELETE", "/api/v1/migrations", AuthAny, ScopeAdminWrite}, s.apiCancelMigration},
	}
}

type nodesView struct {
	Embedded bool       `json:"embedded"` // single node, embedded storage
	Node     string     `json:"node"`     // the node answering
	Items    []nodeView `json:"items"`
}

type nodeView struct {
	Name      string             `json:"name"`
	Addresses []string           `json:"addresses"`
	Services  []string           `json:"services"`
	Version   string             `json:"version"`
	Load      map[string]float64 `json:"load"`
	Started   time.Time          `json:"started"`
	LastSeen  time.Time          `json:"last_seen"`
	Up        bool               `json:"up"`
	Self      bool               `json:"self"`
}

type shardView struct {
	Name     string `json:"name"`
	State    string `json:"state"` // active, draining, offline
	Draining bool   `json:"draining"`
	Users    int64  `json:"users"`
	Bytes    int64  `json:"bytes"`    // -1: could not be read
	Capacity int64  `json:"capacity"` // 0: unlimited
	Health   string `json:"health"`   // "ok" or why it cannot be reached
}

type migrationView struct {
	ID       int64      `json:"id"`
	Address  string     `json:"address"`
	Domain   string     `json:"domain"`
	Kind     string     `json:"kind"`
	Source   string     `json:"source"`
	Target   string     `json:"target"`
	State    string     `json:"state"`
	Phase    string     `json:"phase"`
	Rounds   int        `json:"rounds"`
	Messages int64      `json:"messages"`
	Bytes    int64      `json:"bytes"`
	FenceMS  int64      `json:"fence_ms"`
	Error    string     `json:"error"`
	Owner    string     `json:"owner"`
	Started  time.Time  `json:"started"`
	Updated  time.Time  `json:"updated"`
	Finished *time.Time `json:"finished"`
	Here     bool       `json:"running_here"`
}

type startMigrationRequest struct {
	Address string `json:"address"`
	Target  string `json:"target"`
	Kind    string `json:"kind"` // move (default) or copy
}

func viewNode(n admin.NodeStatus) nodeView {
	v := nodeView{Name: n.Name, Addresses: n.Addresses, Services: n.Services, Version: n.Version, Load: n.Load,
		Started: n.Started, LastSeen: n.LastSeen, Up: !n.Down, Self: n.Self}
	if v.Addresses == nil {
		v.Addresses = []string{}
	}
	if v.Services == nil {
		v.Services = []string{}
	}
	if v.Load == nil {
		v.Load = map[string]float64{}
	}
	return v
}

func viewShard(sh admin.ShardStatus) shardView {
	return shardView{Name: sh.Name, State: sh.State, Draining: sh.Draining(), Users: sh.Users, Bytes: sh.Bytes,
		Capacity: sh.Capacity, Health: sh.Health}
}

func viewMigration(m admin.MigrationStatus) migrationView {
	return migrationView{ID: m.ID, Address: m.Address, Domain: m.Domain, Kind: string(m.Kind), Source: m.Source,
		Target: m.Target, State: string(m.State), Phase: m.Phase, Rounds: m.Rounds, Messages: m.Messages,
		Bytes: m.Bytes, FenceMS: m.FenceMS, Error: m.Error, Owner: m.Owner, Started: m.Started, Updated: m.Updated,
		Finished: timePtr(m.Finished), Here: m.Here}
}

// nodesErr gives the errors only this API has their status: another process migrating
// the account, and migrations on the embedded node.
func nodesErr(err error) error {
	switch {
	case errors.Is(err, directory.ErrBusy):
		return apiErr(http.StatusConflict, "busy", "%v", err)
	case errors.Is(err, admin.ErrNotCluster):
		return apiErr(http.StatusConflict, "not_cluster", "%v", err)
	}
	return err
}

// nodesOf reads the nodes view for the caller.
func (s *Server) nodesOf(r *http.Request, p *principal) (nodesView, error) {
	c := s.scoped(r, p)
	ov, err := c.ClusterOverview()
	if err != nil {
		return nodesView{}, nodesErr(err)
	}
	ns, err := c.Nodes(r.Context())
	if err != nil {
		return nodesView{}, nodesErr(err)
	}
	return nodesView{Embedded: ov.Embedded, Node: ov.Node, Items: listOf(ns, viewNode).Items}, nil
}

func (s *Server) apiNodes(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := s.nodesOf(r, p)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) apiShards(w http.ResponseWriter, r *http.Request, p *principal) error {
	sh, err := s.scoped(r, p).Shards(r.Context())
	if err != nil {
		return nodesErr(err)
	}
	s.writeJSON(w, http.StatusOK, listOf(sh, viewShard))
	return nil
}

func (s *Server) apiMigrations(w http.ResponseWriter, r *http.Request, p *principal) error {
	ms, err := s.scoped(r, p).Migrations(r.Context())
	if err != nil {
		return nodesErr(err)
	}
	s.writeJSON(w, http.StatusOK, listOf(ms, viewMigration))
	return nil
}

// startMigration starts a move or copy; the caller's role is checked before the body.
func (s *Server) startMigration(r *http.Request, p *principal, req startMigrationRequest) (migrationView, error) {
	c := s.scoped(r, p)
	kind := directory.MigrationKind(req.Kind)
	if req.Kind == "" {
		kind = directory.MigrationMove
	}
	m, err := c.StartMigration(r.Context(), req.Address, req.Target, kind)
	if err != nil {
		return migrationView{}, nodesErr(err)
	}
	return viewMigration(admin.MigrationStatus{Migration: m, Here: true}), nil
}

func (s *Server) apiStartMigration(w http.ResponseWriter, r *http.Request, p *principal) error {
	if _, err := s.scoped(r, p).ClusterOverview(); err != nil {
		return nodesErr(err)
	}
	var req startMigrationRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	v, err := s.startMigration(r, p, req)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusAccepted, v)
	return nil
}

// migrationID reads the id of a migration from a query or form value.
func migrationID(v string) (int64, error) {
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, apiErr(http.StatusBadRequest, "invalid", "id: a migration id is required")
	}
	return id, nil
}

func (s *Server) cancelMigration(r *http.Request, p *principal, idText string) (migrationView, error) {
	c := s.scoped(r, p)
	if _, err := c.ClusterOverview(); err != nil {
		return migrationView{}, nodesErr(err)
	}
	id, err := migrationID(idText)
	if err != nil {
		return migrationView{}, err
	}
	m, err := c.CancelMigration(r.Context(), id)
	if err != nil {
		return migrationView{}, nodesErr(err)
	}
	return viewMigration(admin.MigrationStatus{Migration: m, Finished: m.Updated}), nil
}

func (s *Server) apiCancelMigration(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := s.cancelMigration(r, p, r.URL.Query().Get("id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, v)
	return nil
}
