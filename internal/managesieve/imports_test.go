package managesieve_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The front-end rule of ARCHITECTURE.md (imports: core interfaces and foundation, never
// a driver, database/sql or another front-end), checked here until internal/archtest
// lists this package among the front-ends.
func TestImportsCoreOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "mailgrid/internal/managesieve").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{"internal/directory", "internal/filter", "internal/store", "internal/mail",
		"internal/message", "internal/obs", "internal/netserve", "internal/managesieve"}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "database/sql" || strings.Contains(dep, "sqlite") || strings.Contains(dep, "pgx") {
			t.Errorf("imports driver or SQL package %s", dep)
		}
		rest, ours := strings.CutPrefix(dep, "mailgrid/")
		if !ours {
			continue
		}
		ok := false
		for _, a := range allowed {
			if rest == a || strings.HasPrefix(rest, a+"/") {
				ok = true
			}
		}
		if !ok || strings.HasSuffix(rest, "/sqlite") || strings.HasSuffix(rest, "/postgres") {
			t.Errorf("imports %s: not a core interface or foundation package", dep)
		}
	}
}
