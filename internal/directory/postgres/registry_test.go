package postgres

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/testkit/pgtest"
)

func ptr[T any](v T) *T { return &v }

func mustDomain(t *testing.T, d *Directory, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := d.CreateDomain(t.Context(), directory.Domain{Name: n, Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
}

func create(d *Directory, t *testing.T, addr, shard string) (directory.Account, error) {
	return d.CreateAccount(t.Context(), directory.NewAccount{Address: mail.MustParse(addr), Password: "pw pw pw", Shard: shard})
}

func TestShardRegistry(t *testing.T) {
	ctx := t.Context()
	d := open(t, pgtest.DSN(t))
	s1, err := d.AddShard(ctx, Shard{Name: "s1", DSN: "postgres://db1/mail", Capacity: 100})
	if err != nil || s1.State != ShardActive || s1.CreatedAt.IsZero() || s1.Users != 0 || s1.Capacity != 100 {
		t.Fatalf("AddShard = %+v, %v", s1, err)
	}
	if _, err := d.AddShard(ctx, Shard{Name: "s0", DSN: "postgres://db0/mail", State: ShardDraining}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Shard{
		{Name: "", DSN: "x"}, {Name: "S1", DSN: "x"}, {Name: "-a", DSN: "x"}, {Name: "a b", DSN: "x"},
		{Name: "ok", DSN: ""}, {Name: "ok", DSN: "x", Capacity: -1}, {Name: "ok", DSN: "x", State: "broken"},
	} {
		if _, err := d.AddShard(ctx, bad); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("AddShard(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := d.AddShard(ctx, Shard{Name: "s1", DSN: "y"}); !errors.Is(err, directory.ErrExists) {
		t.Errorf("AddShard(duplicate) = %v, want ErrExists", err)
	}
	mustDomain(t, d, "a.example")
	if _, err := create(d, t, "u@a.example", "s1"); err != nil {
		t.Fatal(err)
	}
	all, err := d.Shards(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "s0" || all[1].Name != "s1" || all[1].Users != 1 || all[0].State != ShardDraining {
		t.Fatalf("Shards = %+v, %v", all, err)
	}

	// Failover: the shard's DSN now names the promoted standby.
	got, err := d.UpdateShard(ctx, "s1", ShardUpdate{DSN: ptr("postgres://standby1/mail"), State: ptr(ShardDraining)})
	if err != nil || got.DSN != "postgres://standby1/mail" || got.State != ShardDraining || got.Capacity != 100 || got.Users != 1 {
		t.Errorf("UpdateShard = %+v, %v", got, err)
	}
	if again, err := d.Shard(ctx, "s1"); err != nil || again.DSN != got.DSN || again.State != ShardDraining {
		t.Errorf("Shard after update = %+v, %v", again, err)
	}
	if _, err := d.UpdateShard(ctx, "s1", ShardUpdate{Capacity: ptr(int64(-5)), DSN: ptr("z")}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("UpdateShard(negative capacity) = %v, want ErrInvalid", err)
	}
	if s, _ := d.Shard(ctx, "s1"); s.DSN != "postgres://standby1/mail" {
		t.Errorf("refused update changed the DSN to %q", s.DSN)
	}
	if _, err := d.UpdateShard(ctx, "nope", ShardUpdate{}); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("UpdateShard(unknown) = %v", err)
	}

	if err := d.RemoveShard(ctx, "s1"); !errors.Is(err, ErrShardNotEmpty) {
		t.Errorf("RemoveShard(with an account) = %v, want ErrShardNotEmpty", err)
	}
	if err := d.RemoveShard(ctx, "s0"); err != nil {
		t.Errorf("RemoveShard(empty) = %v", err)
	}
	if err := d.RemoveShard(ctx, "s0"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("RemoveShard(twice) = %v, want ErrNotFound", err)
	}
	if _, err := d.Shard(ctx, "s0"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("Shard(removed) = %v", err)
	}
}

// Placement: LocalShard while no shard is registered; then the active shard with the most
// free capacity; ErrLimit when full; named shards must be registered.
func TestPlacement(t *testing.T) {
	ctx := t.Context()
	d := open(t, pgtest.DSN(t))
	mustDomain(t, d, "a.example")
	if a, err := create(d, t, "first@a.example", ""); err != nil || a.Shard != directory.LocalShard {
		t.Fatalf("placement without registry = %q, %v; want %q", a.Shard, err, directory.LocalShard)
	}
	for _, s := range []Shard{{Name: "small", DSN: "x", Capacity: 2}, {Name: "big", DSN: "y", Capacity: 3},
		{Name: "draining", DSN: "z", State: ShardDraining}} {
		if _, err := d.AddShard(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// Free: big 3, small 2 -> big; then 2/2 -> big (name order); then small 2 vs big 1 -> small ...
	var got []string
	for i := range 5 {
		a, err := create(d, t, fmt.Sprintf("u%d@a.example", i), "")
		if err != nil {
			t.Fatalf("CreateAccount #%d: %v", i, err)
		}
		got = append(got, a.Shard)
	}
	if want := []string{"big", "big", "small", "big", "small"}; !slices.Equal(got, want) {
		t.Errorf("placements = %v, want %v", got, want)
	}
	if _, err := create(d, t, "full@a.example", ""); !errors.Is(err, directory.ErrLimit) {
		t.Errorf("CreateAccount with every shard full = %v, want ErrLimit", err)
	}
	// An explicit, registered shard is an operator's choice: capacity and state do not apply.
	if a, err := create(d, t, "pinned@a.example", "draining"); err != nil || a.Shard != "draining" {
		t.Errorf("explicit shard = %q, %v", a.Shard, err)
	}
	if _, err := create(d, t, "typo@a.example", "bgi"); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("unregistered explicit shard = %v, want ErrInvalid", err)
	}
	u0 := mail.MustParse("u0@a.example")
	if _, err := d.UpdateAccount(ctx, u0, directory.AccountUpdate{Shard: ptr("nowhere")}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("UpdateAccount to an unregistered shard = %v, want ErrInvalid", err)
	}
	if a, err := d.UpdateAccount(ctx, u0, directory.AccountUpdate{Shard: ptr("small")}); err != nil || a.Shard != "small" {
		t.Errorf("UpdateAccount(shard small) = %q, %v", a.Shard, err)
	}
	// An unlimited shard is preferred over any limited one; raising capacity reopens placement.
	if _, err := d.AddShard(ctx, Shard{Name: "huge", DSN: "h"}); err != nil {
		t.Fatal(err)
	}
	if a, err := create(d, t, "next@a.example", ""); err != nil || a.Shard != "huge" {
		t.Errorf("placement with an unlimited shard = %q, %v", a.Shard, err)
	}
}

// Two nodes place accounts of different domains (so no common domain lock) at once: the
// shard row locks keep every shard within its capacity.
func TestPlacementCapacityAcrossNodes(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	nodes := []*Directory{open(t, dsn), open(t, dsn)}
	mustDomain(t, nodes[0], "a.example", "b.example", "c.example")
	for _, s := range []Shard{{Name: "s1", DSN: "x", Capacity: 3}, {Name: "s2", DSN: "y", Capacity: 2}} {
		if _, err := nodes[0].AddShard(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	const tries = 12
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() {
			_, errs[i] = create(nodes[i%2], t, fmt.Sprintf("u%d@%c.example", i, 'a'+i%3), "")
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, directory.ErrLimit) {
			t.Errorf("CreateAccount #%d: %v", i, err)
		}
	}
	shards, err := nodes[1].Shards(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok != 5 || len(shards) != 2 || shards[0].Users != 3 || shards[1].Users != 2 {
		t.Errorf("%d created; shards %+v; want 5, s1 3/3 and s2 2/2", ok, shards)
	}
}

func TestNodeRegistry(t *testing.T) {
	ctx := t.Context()
	d := open(t, pgtest.DSN(t))
	started := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	n1 := Node{Name: "n1", Addresses: []string{"192.0.2.1", "[2001:db8::1]:25"}, Version: "0.1.0",
		Services: []string{"smtp", "imap"}, Started: started, Load: map[string]float64{"load1": 0.5, "smtp_conns": 3}}
	if err := d.RegisterNode(ctx, n1); err != nil {
		t.Fatal(err)
	}
	if err := d.RegisterNode(ctx, Node{Name: "mx2.example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "a b", "n/1", string(make([]byte, MaxNodeName+1))} {
		if err := d.RegisterNode(ctx, Node{Name: bad}); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("RegisterNode(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	nodes, err := d.Nodes(ctx, time.Minute)
	if err != nil || len(nodes) != 2 {
		t.Fatalf("Nodes = %+v, %v", nodes, err)
	}
	mx, got := nodes[0], nodes[1]
	if got.Name != "n1" || !slices.Equal(got.Addresses, n1.Addresses) || got.Version != "0.1.0" ||
		!slices.Equal(got.Services, n1.Services) || !got.Started.Equal(started) || !maps.Equal(got.Load, n1.Load) ||
		got.LastHeartbeat.IsZero() || got.Down {
		t.Errorf("node = %+v, want %+v up", got, n1)
	}
	if mx.Name != "mx2.example.com" || mx.Started.IsZero() || len(mx.Addresses) != 0 || len(mx.Load) != 0 {
		t.Errorf("minimal node = %+v", mx)
	}

	// n1 stops heartbeating (its last one is an hour old by the database clock): down.
	if _, err := d.pool.Exec(ctx, `UPDATE nodes SET last_heartbeat = now() - interval '1 hour' WHERE name = 'n1'`); err != nil {
		t.Fatal(err)
	}
	nodes, err = d.Nodes(ctx, time.Minute)
	if err != nil || len(nodes) != 2 || !nodes[1].Down || nodes[0].Down {
		t.Errorf("after missed heartbeats: %+v, %v; want n1 down, mx2 up", nodes, err)
	}
	if nodes, _ := d.Nodes(ctx, 2*time.Hour); len(nodes) != 2 || nodes[1].Down {
		t.Errorf("with a 2h threshold n1 should be up: %+v", nodes)
	}
	// A heartbeat brings it back with its new load.
	if err := d.Heartbeat(ctx, "n1", map[string]float64{"load1": 1.25}); err != nil {
		t.Fatal(err)
	}
	nodes, err = d.Nodes(ctx, time.Minute)
	if err != nil || nodes[1].Down || !maps.Equal(nodes[1].Load, map[string]float64{"load1": 1.25}) {
		t.Errorf("after heartbeat: %+v, %v", nodes[1], err)
	}
	// Re-registering (a restart) replaces the row.
	if err := d.RegisterNode(ctx, Node{Name: "n1", Version: "0.2.0", Services: []string{"smtp"}}); err != nil {
		t.Fatal(err)
	}
	nodes, _ = d.Nodes(ctx, time.Minute)
	if got := nodes[1]; got.Version != "0.2.0" || got.Started.Equal(started) || len(got.Addresses) != 0 {
		t.Errorf("after re-register: %+v", got)
	}
	if err := d.RemoveNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Heartbeat(ctx, "n1", nil); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("Heartbeat(removed) = %v, want ErrNotFound", err)
	}
	if err := d.RemoveNode(ctx, "n1"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("RemoveNode(twice) = %v, want ErrNotFound", err)
	}
}
