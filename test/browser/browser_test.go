// Package browser runs the browser specs: every specs/*.spec.mjs is a node script that
// drives Debian's chromium through playwright-core (test/browser/package.json, exact
// version) against a freshly started mailgrid binary, and fails on a wrong page, a failed
// check or any error in the browser console (lib.mjs collects them).
//
// Adding a spec is one file: specs/NAME.spec.mjs, importing ../lib.mjs. It becomes the
// subtest TestBrowser/NAME with a node of its own (loopback ports, temporary data
// directory) and the fixture accounts of fixtures(), passed to the script in its
// environment (see /work/notes/browser-ready.md and lib.mjs).
package browser

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// specTimeout bounds one spec script (lib.mjs has its own, shorter, default).
const specTimeout = 4 * time.Minute

// fixture is what every spec finds on its node, by environment variable.
type fixture map[string]string

// fixtures creates two tenants through the CLI: DOMAIN with a domain admin and a user,
// OTHER_DOMAIN with the same, so specs can test isolation between them.
func fixtures(n *node) fixture {
	f := fixture{
		"ADMIN_USER": "admin@" + n.hostname, "ADMIN_PASSWORD": n.adminPass,
		"DOMAIN": "example.test", "DOMAIN_ADMIN": "dadmin@example.test", "DOMAIN_ADMIN_PASSWORD": "dadmin-pw-example-1",
		"USER": "alice@example.test", "USER_PASSWORD": "alice-pw-example-1",
		"OTHER_DOMAIN": "other.test", "OTHER_ADMIN": "oadmin@other.test", "OTHER_ADMIN_PASSWORD": "oadmin-pw-other-1",
		"OTHER_USER": "bob@other.test", "OTHER_USER_PASSWORD": "bob-pw-other-1",
	}
	for _, d := range []string{f["DOMAIN"], f["OTHER_DOMAIN"]} {
		n.cli("", "domain", "add", d)
	}
	n.cli(f["DOMAIN_ADMIN_PASSWORD"]+"\n", "user", "add", f["DOMAIN_ADMIN"], "--password-stdin",
		"--role", "domain-admin", "--admin-domain", f["DOMAIN"])
	n.cli(f["OTHER_ADMIN_PASSWORD"]+"\n", "user", "add", f["OTHER_ADMIN"], "--password-stdin",
		"--role", "domain-admin", "--admin-domain", f["OTHER_DOMAIN"])
	n.cli(f["USER_PASSWORD"]+"\n", "user", "add", f["USER"], "--password-stdin")
	n.cli(f["OTHER_USER_PASSWORD"]+"\n", "user", "add", f["OTHER_USER"], "--password-stdin")
	return f
}

// TestBrowser runs each spec against a node of its own.
func TestBrowser(t *testing.T) {
	specs, err := filepath.Glob("specs/*.spec.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) == 0 {
		t.Fatal("no specs/*.spec.mjs")
	}
	for _, spec := range specs {
		name := strings.TrimSuffix(filepath.Base(spec), ".spec.mjs")
		t.Run(name, func(t *testing.T) { runSpec(t, spec) })
	}
}

func runSpec(t *testing.T, spec string) {
	nodeBin := prerequisites(t)
	n := startNode(t, strings.TrimSuffix(spec, ".spec.mjs")+".toml")
	f := fixtures(n)
	env := os.Environ()
	for k, v := range f {
		env = append(env, k+"="+v)
	}
	for _, l := range listeners {
		env = append(env, strings.ToUpper(l)+"_ADDR="+n.addr[l])
	}
	artifacts := t.TempDir()
	if d := os.Getenv("BROWSER_ARTIFACTS"); d != "" {
		artifacts = filepath.Join(d, t.Name())
		if err := os.MkdirAll(artifacts, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env = append(env, "BASE_URL=http://"+n.addr["http"], "HOSTNAME="+n.hostname,
		"MAILGRID_BIN="+binary, "MAILGRID_CONFIG="+n.configFile,
		"CHROMIUM="+chromium, "ARTIFACTS_DIR="+artifacts)

	ctx, cancel := context.WithTimeout(context.Background(), specTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, spec)
	cmd.Env = env
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("node %s:\n%s", spec, out.String())
	if err != nil {
		t.Fatalf("spec %s failed: %v (screenshots in %s; set BROWSER_ARTIFACTS to keep them)\nserver log (tail):\n%s",
			spec, err, artifacts, tail(n.output(), 60))
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
