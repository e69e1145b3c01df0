// Package archtest keeps the dependency rules of ARCHITECTURE.md true: it lists every
// package's transitive imports with `go list -deps` and fails on an import that points the
// wrong way.
package archtest

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "mailgrid/"

type pkg struct {
	ImportPath string
	Imports    []string // direct
	Deps       []string // transitive
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json", "mailgrid/...")
	cmd.Dir = "../.."
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

var (
	frontEnds = []string{"internal/smtpserver", "internal/smtpclient", "internal/imapserver", "internal/pop3server", "internal/web", "internal/managesieve"}
	core      = []string{"internal/directory", "internal/store", "internal/queue", "internal/delivery", "internal/filter", "internal/bus", "internal/cluster", "internal/admin", "internal/dkimkeys", "internal/contacts", "internal/schedule", "internal/sms", "internal/fetch"}
	found     = []string{"internal/mail", "internal/message", "internal/config", "internal/obs", "internal/dns", "internal/netserve"}
	standards = []string{"internal/mailauth"}
)

// isDriver reports whether an import path is a storage driver (sqlite, postgres, and the
// bus's PostgreSQL transport pgnotify) or a database library.
func isDriver(p string) bool {
	return p == "database/sql" || strings.HasPrefix(p, "modernc.org/sqlite") ||
		strings.HasPrefix(p, "github.com/jackc/pgx") ||
		(strings.HasPrefix(p, mod) && (strings.HasSuffix(p, "/sqlite") || strings.HasSuffix(p, "/postgres") ||
			strings.HasSuffix(p, "/pgnotify")))
}

// pgkit is the PostgreSQL drivers' shared kit: a driver-level helper, imported directly
// by drivers only (their tests and test kits may use its pgkittest).
const pgkit = mod + "internal/pgkit"

// pgkitMisuse names a direct import of pgkit by a package that is not a driver.
func pgkitMisuse(p pkg) string {
	if isDriver(p.ImportPath) || p.ImportPath == pgkit || strings.HasPrefix(p.ImportPath, pgkit+"/") {
		return ""
	}
	for _, d := range p.Imports {
		if d == pgkit || d == mod+"internal/sqlitekit" { // and the SQLite drivers' kit
			return fmt.Sprintf("%s imports %s: only drivers may", p.ImportPath, d)
		}
	}
	return ""
}

func in(p string, group []string) string {
	for _, g := range group {
		if p == mod+g || strings.HasPrefix(p, mod+g+"/") {
			return g
		}
	}
	return ""
}

func TestDependencyRules(t *testing.T) {
	pkgs := listPackages(t)
	checked := 0
	for _, p := range pkgs {
		if strings.HasSuffix(p.ImportPath, "test") { // conformance suites and testkits
			continue
		}
		if msg := pgkitMisuse(p); msg != "" {
			t.Error(msg)
		}
		fe, co, fo, st := in(p.ImportPath, frontEnds), in(p.ImportPath, core), in(p.ImportPath, found), in(p.ImportPath, standards)
		if co != "" && isDriver(p.ImportPath) {
			continue // the drivers themselves live under core directories
		}
		for _, d := range p.Deps {
			switch {
			case fe != "" && isDriver(d):
				t.Errorf("front-end %s imports driver/SQL package %s (rule 2)", p.ImportPath, d)
			case fe != "" && in(d, frontEnds) != "" && in(d, frontEnds) != fe:
				t.Errorf("front-end %s imports front-end %s (rule 2)", p.ImportPath, d)
			case co != "" && (isDriver(d) || in(d, frontEnds) != ""):
				t.Errorf("core %s imports %s (rule 1)", p.ImportPath, d)
			case fo != "" && (in(d, core) != "" || in(d, frontEnds) != "" || in(d, standards) != "" || isDriver(d)):
				t.Errorf("foundation %s imports %s (rule 1)", p.ImportPath, d)
			case st != "" && (in(d, core) != "" || in(d, frontEnds) != "" || isDriver(d)):
				t.Errorf("standards package %s imports %s (rule 1)", p.ImportPath, d)
			case strings.HasPrefix(d, mod+"internal/app") || strings.HasPrefix(d, mod+"cmd/"):
				if !strings.HasPrefix(p.ImportPath, mod+"cmd/") && !strings.HasPrefix(p.ImportPath, mod+"test/") {
					t.Errorf("%s imports %s: only cmd may import app", p.ImportPath, d)
				}
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no imports checked")
	}
}

// TestRuleDetection proves the checker would catch a violation.
func TestRuleDetection(t *testing.T) {
	if !isDriver("database/sql") || !isDriver("mailgrid/internal/store/sqlite") || isDriver("mailgrid/internal/store") {
		t.Fatal("isDriver misclassifies")
	}
	if in("mailgrid/internal/smtpserver", frontEnds) == "" || in("mailgrid/internal/store/sqlite", core) == "" {
		t.Fatal("grouping misclassifies")
	}
	if pgkitMisuse(pkg{ImportPath: mod + "internal/web", Imports: []string{pgkit}}) == "" ||
		pgkitMisuse(pkg{ImportPath: mod + "internal/queue/postgres", Imports: []string{pgkit}}) != "" {
		t.Fatal("pgkit rule misclassifies")
	}
}
