package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/config"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/testkit/ports"
)

// webClient is a signed-in API and console client of a running node.
type webClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func signIn(t *testing.T, base, login string) *webClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &webClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	st, body := w.do("POST", "/api/v1/login", map[string]string{"login": login, "password": "pw-secret-1"})
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	if st != http.StatusOK || json.Unmarshal(body, &me) != nil || me.CSRF == "" {
		t.Fatalf("login %s: %d %s", login, st, body)
	}
	w.csrf = me.CSRF
	return w
}

func (w *webClient) do(method, path string, body any) (int, []byte) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			w.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, w.base+path, rd)
	if err != nil {
		w.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if w.csrf != "" {
		req.Header.Set("X-CSRF-Token", w.csrf)
	}
	resp, err := w.c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer func() {
		if err := resp.Body.Close(); err != nil {
			w.t.Error(err)
		}
	}()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.StatusCode, b
}

type apiMigration struct {
	ID       int64      `json:"id"`
	Address  string     `json:"address"`
	Kind     string     `json:"kind"`
	Source   string     `json:"source"`
	Target   string     `json:"target"`
	State    string     `json:"state"`
	Phase    string     `json:"phase"`
	Messages int64      `json:"messages"`
	Finished *time.Time `json:"finished"`
}

// TestClusterNodesShardsMigrationsAPI: on a cluster (directory and two shard databases),
// a system admin sees the node registry and the shards over the API and console, moves
// a user to the other shard in the background (mail follows, audited), cancels an
// unfinished migration; a domain admin gets 403 everywhere and changes nothing.
func TestClusterNodesShardsMigrationsAPI(t *testing.T) {
	ctx := context.Background()
	a, dirDSN, _ := twoShardCluster(t)
	for _, d := range []string{"example.test", "sys.test"} {
		if _, err := a.Admin.AddDomain(ctx, directory.Domain{Name: d}); err != nil {
			t.Fatal(err)
		}
	}
	newAcct := func(addr string, role directory.Role, admins ...string) directory.Account {
		acct, err := a.Admin.AddAccount(ctx, directory.NewAccount{Address: mail.MustParse(addr), Password: "pw-secret-1",
			Role: role, AdminDomains: admins})
		if err != nil {
			t.Fatal(err)
		}
		return acct
	}
	u1 := newAcct("u1@example.test", directory.RoleUser)
	newAcct("da@example.test", directory.RoleDomainAdmin, "example.test")
	newAcct("root@sys.test", directory.RoleSystemAdmin)
	src, err := a.Shards.Shard(u1.Shard)
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, src, admin.Ref(u1), "before the move")
	target := map[string]string{"s1": "s2", "s2": "s1"}[u1.Shard]

	c := clusterConfig(t, dirDSN, "n1")
	c.Listen.HTTP = ports.Free(t, 1)[0]
	c.Cluster.Heartbeat = config.Duration(50 * time.Millisecond)
	n := openSystem(t, c)
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- n.Serve(sctx) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + c.Listen.HTTP
	var root *webClient
	for i := 0; i < 200 && root == nil; i++ { // until the listener is up
		if resp, err := http.Get(base + "/login"); err == nil {
			if err := resp.Body.Close(); err != nil {
				t.Fatal(err)
			}
			root = signIn(t, base, "root@sys.test")
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if root == nil {
		t.Fatal("the HTTP listener did not come up")
	}
	da := signIn(t, base, "da@example.test")

	// A domain admin: 403 on every route and the page, and nothing starts.
	for _, rq := range []struct{ method, path string }{{"GET", "/api/v1/nodes"}, {"GET", "/api/v1/shards"},
		{"GET", "/api/v1/migrations"}, {"POST", "/api/v1/migrations"}, {"DELETE", "/api/v1/migrations?id=1"}, {"GET", "/console/nodes"}} {
		var body any
		if rq.method == "POST" {
			body = map[string]string{"address": "u1@example.test", "target": target}
		}
		if st, b := da.do(rq.method, rq.path, body); st != http.StatusForbidden {
			t.Errorf("domain admin %s %s: %d %s", rq.method, rq.path, st, b)
		}
	}

	// Nodes: n1 registered with its HTTP listener, up, answering.
	var nodes struct {
		Embedded bool   `json:"embedded"`
		Node     string `json:"node"`
		Items    []struct {
			Name     string   `json:"name"`
			Services []string `json:"services"`
			Up       bool     `json:"up"`
			Self     bool     `json:"self"`
		} `json:"items"`
	}
	st, body := root.do("GET", "/api/v1/nodes", nil)
	if st != http.StatusOK || json.Unmarshal(body, &nodes) != nil || nodes.Embedded || nodes.Node != "n1" ||
		len(nodes.Items) != 1 || !nodes.Items[0].Up || !nodes.Items[0].Self || nodes.Items[0].Services[0] != "http" {
		t.Fatalf("nodes: %d %s", st, body)
	}
	var shards struct {
		Items []struct {
			Name   string `json:"name"`
			Users  int64  `json:"users"`
			Bytes  int64  `json:"bytes"`
			Health string `json:"health"`
		} `json:"items"`
	}
	st, body = root.do("GET", "/api/v1/shards", nil)
	if st != http.StatusOK || json.Unmarshal(body, &shards) != nil || len(shards.Items) != 2 {
		t.Fatalf("shards: %d %s", st, body)
	}
	users := int64(0)
	for _, sh := range shards.Items {
		users += sh.Users
		if sh.Health != "ok" || sh.Bytes <= 0 {
			t.Errorf("shard %+v", sh)
		}
	}
	if users != 3 {
		t.Errorf("users on the shards: %d, want 3 (%s)", users, body)
	}

	// Bad requests change nothing.
	for _, bad := range []struct {
		body map[string]string
		want int
	}{{map[string]string{"address": "u1@example.test", "target": "nosuch"}, http.StatusNotFound},
		{map[string]string{"address": "nobody@example.test", "target": target}, http.StatusNotFound},
		{map[string]string{"address": "u1@example.test", "target": target, "kind": "teleport"}, http.StatusBadRequest},
		{map[string]string{"address": "u1@example.test", "target": u1.Shard, "kind": "copy"}, http.StatusBadRequest}} {
		if st, b := root.do("POST", "/api/v1/migrations", bad.body); st != bad.want {
			t.Errorf("start %v: %d %s, want %d", bad.body, st, b, bad.want)
		}
	}

	// A move runs in the background and finishes.
	st, body = root.do("POST", "/api/v1/migrations", map[string]string{"address": "u1@example.test", "target": target})
	var started apiMigration
	if st != http.StatusAccepted || json.Unmarshal(body, &started) != nil || started.ID == 0 || started.Target != target {
		t.Fatalf("start: %d %s", st, body)
	}
	var done apiMigration
	for i := 0; i < 600 && done.State != "done"; i++ {
		var list struct{ Items []apiMigration }
		st, body = root.do("GET", "/api/v1/migrations", nil)
		if st != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Items) == 0 {
			t.Fatalf("migrations: %d %s", st, body)
		}
		done = list.Items[0]
		if done.State == "failed" {
			t.Fatalf("migration failed: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if done.State != "done" || done.ID != started.ID || done.Messages != 1 || done.Finished == nil {
		t.Fatalf("migration: %+v", done)
	}
	moved, err := a.Dir.Account(ctx, u1.Address)
	if err != nil || moved.Shard != target {
		t.Fatalf("after the move: %+v, %v", moved, err)
	}
	dst, err := a.Shards.Shard(target)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := dst.Usage(ctx, admin.Ref(moved)); err != nil || u.Messages != 1 {
		t.Fatalf("mail on the target: %+v, %v", u, err)
	}
	if st, b := root.do("DELETE", "/api/v1/migrations?id="+strconv.FormatInt(done.ID, 10), nil); st != http.StatusBadRequest {
		t.Errorf("cancel a finished migration: %d %s", st, b)
	}
	if st, b := root.do("DELETE", "/api/v1/migrations?id=999999", nil); st != http.StatusNotFound {
		t.Errorf("cancel an unknown migration: %d %s", st, b)
	}

	// Cancel: an unfinished copy (as a run stopped in its copy phase leaves it).
	j := a.Dir.(directory.MigrationJournal)
	u2 := newAcct("u2@example.test", directory.RoleUser)
	other := map[string]string{"s1": "s2", "s2": "s1"}[u2.Shard]
	m, _, err := j.StartMigration(ctx, directory.Migration{AccountID: u2.ID, Domain: "example.test", Address: "u2@example.test",
		Kind: directory.MigrationCopy, Source: u2.Shard, Target: other, Owner: "elsewhere:1"})
	if err != nil {
		t.Fatal(err)
	}
	m.Phase, m.State, m.Error = directory.PhaseCopy, directory.MigrationFailed, "killed"
	if err := j.SaveMigration(ctx, m); err != nil {
		t.Fatal(err)
	}
	page := func() string {
		st, b := root.do("GET", "/console/nodes", nil)
		if st != http.StatusOK {
			t.Fatalf("page: %d %s", st, b)
		}
		return string(b)
	}
	if p := page(); !strings.Contains(p, `data-name="n1"`) || !strings.Contains(p, `data-name="s1"`) ||
		!strings.Contains(p, `action="/console/nodes/migrations/cancel"`) || !strings.Contains(p, "u2@example.test") ||
		strings.Contains(p, "embedded storage") {
		t.Fatalf("page: %s", p)
	}
	var cancelled apiMigration
	st, body = root.do("DELETE", "/api/v1/migrations?id="+strconv.FormatInt(m.ID, 10), nil)
	if st != http.StatusOK || json.Unmarshal(body, &cancelled) != nil || cancelled.State != "cancelled" {
		t.Fatalf("cancel: %d %s", st, body)
	}
	if unfinished, err := j.Migrations(ctx, true); err != nil || len(unfinished) != 0 {
		t.Fatalf("unfinished after cancel: %+v, %v", unfinished, err)
	}

	// Both changes are in the audit log with who did them.
	al := a.Dir.(directory.AuditLog)
	entries, err := al.Audit(ctx, directory.AuditQuery{Domains: []string{"example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, e := range entries {
		seen[e.Action] = e.Actor
	}
	if seen["migration.move"] != "root@sys.test" || seen["migration.cancel"] != "root@sys.test" {
		t.Fatalf("audit: %+v", seen)
	}
}

// TestEmbeddedNodesView: the embedded single node shows itself and its one shard, has
// no migrations and refuses to start one.
func TestEmbeddedNodesView(t *testing.T) {
	ctx := context.Background()
	c := config.Default()
	c.Data = t.TempDir()
	c.Hostname = "solo.test"
	c.Listen = config.Listen{SMTP: "127.0.0.1:2525"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s := openSystem(t, c)
	sc := s.Admin.As(admin.SystemActor("test"))
	ov, err := sc.ClusterOverview()
	if err != nil || !ov.Embedded {
		t.Fatalf("overview %+v, %v", ov, err)
	}
	nodes, err := sc.Nodes(ctx)
	if err != nil || len(nodes) != 1 || !nodes[0].Self || nodes[0].Down || nodes[0].Services[0] != "smtp" ||
		nodes[0].Addresses[0] != "127.0.0.1:2525" {
		t.Fatalf("nodes %+v, %v", nodes, err)
	}
	shards, err := sc.Shards(ctx)
	if err != nil || len(shards) != 1 || shards[0].Name != directory.LocalShard {
		t.Fatalf("shards %+v, %v", shards, err)
	}
	if ms, err := sc.Migrations(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("migrations %+v, %v", ms, err)
	}
	if _, err := sc.StartMigration(ctx, "a@solo.test", "local", directory.MigrationMove); !errors.Is(err, admin.ErrNotCluster) {
		t.Fatalf("start on the embedded node: %v", err)
	}
	if _, err := s.Admin.As(admin.Actor{Account: directory.Account{Role: directory.RoleDomainAdmin}}).Nodes(ctx); !errors.Is(err, admin.ErrForbidden) {
		t.Fatalf("domain admin: %v", err)
	}
}
