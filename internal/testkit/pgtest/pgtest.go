// Package pgtest gives tests a fresh PostgreSQL database on the machine's server: each
// call creates a uniquely named database, and the test's cleanup drops it. The server is
// the one at MAILGRID_PGTEST_DSN, default postgres://postgres@127.0.0.1:5432/postgres
// (trust authentication on loopback). When it cannot be reached the test is skipped on a
// laptop, and fails under CI=true (a missing prerequisite is a failure there).
package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// AdminDSN is the maintenance connection used to create and drop test databases.
func AdminDSN() string {
	if dsn := os.Getenv("MAILGRID_PGTEST_DSN"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// DSN creates a new empty database and returns its connection string.
func DSN(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminDSN())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required in CI (%s): %v", AdminDSN(), err)
		}
		t.Skipf("PostgreSQL not reachable at %s: %v", AdminDSN(), err)
	}
	defer func() { _ = admin.Close(context.Background()) }()
	name := "mailgrid_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() { drop(t, name) })
	u, err := url.Parse(AdminDSN())
	if err != nil {
		t.Fatalf("MAILGRID_PGTEST_DSN: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// drop removes a test database, disconnecting any session left behind.
func drop(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminDSN())
	if err != nil {
		t.Errorf("drop %s: %v", name, err)
		return
	}
	defer func() { _ = admin.Close(context.Background()) }()
	if _, err := admin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
		t.Errorf("drop %s: %v", name, err)
	}
}
