package web_test

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"mailgrid/internal/web"
)

// openAPIOps reads the operations of api/openapi.yaml: "METHOD path" -> "auth scope".
// It reads the file's own layout (paths at two spaces, methods at four, x-auth and
// x-scope at six), which is how the file is written; a line the reader does not expect
// in that block fails the test rather than being skipped.
func openAPIOps(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}()
	var (
		pathRE   = regexp.MustCompile(`^  (/\S*):$`)
		methodRE = regexp.MustCompile(`^    (get|put|post|patch|delete|head|options):$`)
		extRE    = regexp.MustCompile(`^      x-(auth|scope): (\S+)$`)
	)
	ops := map[string]string{}
	var inPaths bool
	var path, op string
	ext := map[string]map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "paths:":
			inPaths = true
			continue
		case inPaths && line != "" && line[0] != ' ':
			inPaths = false
		}
		if !inPaths {
			continue
		}
		if m := pathRE.FindStringSubmatch(line); m != nil {
			path, op = m[1], ""
		} else if m := methodRE.FindStringSubmatch(line); m != nil {
			op = strings.ToUpper(m[1]) + " " + path
			if _, dup := ext[op]; dup {
				t.Errorf("openapi: %s twice", op)
			}
			ext[op] = map[string]string{}
		} else if m := extRE.FindStringSubmatch(line); m != nil && op != "" {
			ext[op][m[1]] = m[2]
		} else if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "    ") {
			t.Errorf("openapi: unexpected line in paths: %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for op, e := range ext {
		ops[op] = strings.TrimSpace(e["auth"] + " " + e["scope"])
	}
	return ops
}

// Every route of the server is in api/openapi.yaml with its auth and scope, and the file
// describes no route the server lacks.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, nil)
	doc := openAPIOps(t)
	if len(doc) < 20 {
		t.Fatalf("read only %d operations from openapi.yaml", len(doc))
	}
	seen := map[string]bool{}
	for _, r := range h.srv.Routes() {
		op := r.Method + " " + r.Path
		seen[op] = true
		want := strings.TrimSpace(r.Auth + " " + r.Scope)
		got, ok := doc[op]
		switch {
		case !ok:
			t.Errorf("route %s is not in api/openapi.yaml", op)
		case got != want:
			t.Errorf("%s: openapi.yaml says x-auth/x-scope %q, the server %q", op, got, want)
		}
		if r.Auth == web.AuthAny && !slices.Contains(web.Scopes(), r.Scope) {
			t.Errorf("%s: scope %q unknown", op, r.Scope)
		}
	}
	for op := range doc {
		if !seen[op] {
			t.Errorf("api/openapi.yaml describes %s, which the server does not serve", op)
		}
	}
}
