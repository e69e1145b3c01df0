package web

import (
	"net/http"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/filter"
)

// The filter servers API (GET /api/v1/filter-servers, system admins): this node's
// external filters (clamd, rspamd, milters, HTTP hooks) with their failure policy,
// health and the latency of the calls the node made to them. Each node answers for
// itself (admin.FilterServers); ?check=1 runs every health check now.

func (s *Server) filterServerRoutes() []route {
	return []route{
		{Route{"GET", "/api/v1/filter-servers", AuthAny, ScopeAdminRead}, s.apiFilterServers},
	}
}

// filterServersView is one node's filter servers.
type filterServersView struct {
	Node  string             `json:"node"` // the node whose view this is
	Items []filterServerView `json:"items"`
}

type filterServerView struct {
	Name    string           `json:"name"`
	Kind    string           `json:"kind"` // clamd, rspamd, milter, http-hook
	Address string           `json:"address"`
	Policy  string           `json:"policy"` // fail-closed, fail-open
	Domain  string           `json:"domain"` // "" every domain
	Stages  []string         `json:"stages"`
	Health  serverHealthView `json:"health"`
	Latency latencyView      `json:"latency"`
	// Counters since the node started.
	Calls    uint64 `json:"calls"`
	Errors   uint64 `json:"errors"` // timeouts included
	Timeouts uint64 `json:"timeouts"`
}

type serverHealthView struct {
	State       string     `json:"state"` // up, down, unknown
	Checked     *time.Time `json:"checked"`
	CheckMS     float64    `json:"check_ms"`
	LastError   string     `json:"last_error"` // of a call or a check
	LastErrorAt *time.Time `json:"last_error_at"`
}

// latencyView is in milliseconds; P50 and P99 are of the last Samples calls.
type latencyView struct {
	LastMS  float64 `json:"last_ms"`
	P50MS   float64 `json:"p50_ms"`
	P99MS   float64 `json:"p99_ms"`
	Samples int     `json:"samples"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func viewFilterServer(s filter.ServerStatus) filterServerView {
	stages := []string{}
	for _, st := range s.Stages {
		stages = append(stages, st.String())
	}
	return filterServerView{Name: s.Name, Kind: s.Kind, Address: s.Address, Policy: s.Policy.String(), Domain: s.Domain,
		Stages: stages, Calls: s.Calls, Errors: s.Errors, Timeouts: s.Timeouts,
		Health: serverHealthView{State: s.Health, Checked: timePtr(s.Checked), CheckMS: ms(s.CheckLatency),
			LastError: s.LastError, LastErrorAt: timePtr(s.LastErrorAt)},
		Latency: latencyView{LastMS: ms(s.Last), P50MS: ms(s.P50), P99MS: ms(s.P99), Samples: s.Samples}}
}

func viewFilterServers(fs admin.FilterServers) filterServersView {
	return filterServersView{Node: fs.Node, Items: listOf(fs.Servers, viewFilterServer).Items}
}

// filterServers asks for this node's filter servers; check runs every health check now.
func (s *Server) filterServers(r *http.Request, p *principal, check bool) (filterServersView, error) {
	fs, err := s.filters(r, p).FilterServers(r.Context(), check)
	if err != nil {
		return filterServersView{}, policyErr(err)
	}
	return viewFilterServers(fs), nil
}

func (s *Server) apiFilterServers(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := s.filterServers(r, p, r.URL.Query().Get("check") != "")
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, v)
	return nil
}
