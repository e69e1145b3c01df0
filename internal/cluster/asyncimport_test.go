package cluster_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/cluster"
	"mailgrid/internal/directory"
)

// TestMoveImportsAsync: a move to a PostgreSQL shard imports through the target's
// asynchronous handle (its connections, named mailgrid-import, commit with
// synchronous_commit = off, seen from the server while the fence is held) and finishes
// with the target equal to the source; with Options.SyncImports it does not use one.
func TestMoveImportsAsync(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			a, ref := e.account("carol@example.test", "s1")
			seed(t, e.st["s1"], ref, "INBOX", 120, 2048)
			before := take(t, e.st["s1"], ref)
			e.eng.Options.BatchMessages = 40
			e.eng.Options.SyncImports = sync
			conn, err := pgx.Connect(ctx, e.dsn["s2"])
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close(context.Background()) })
			var async int64 = -1
			cluster.SetHook(e.eng, func(point string) error {
				if point != "fenced" {
					return nil
				}
				return conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND application_name = 'mailgrid-import'`).Scan(&async)
			})
			m, err := e.eng.Move(ctx, a.Address, "s2")
			if err != nil {
				t.Fatal(err)
			}
			if m.State != directory.MigrationDone || m.Messages != 120 {
				t.Fatalf("journal: %+v", m)
			}
			if sync && async != 0 || !sync && async < 1 {
				t.Errorf("import connections on the target at the fence: %d (sync imports: %v)", async, sync)
			}
			if after := take(t, e.st["s2"], ref); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("target differs from the source before the move")
			}
		})
	}
}
