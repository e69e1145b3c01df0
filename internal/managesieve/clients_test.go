package managesieve_test

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// needTool finds an external client: missing, the test is skipped, except under CI=true
// where it fails (scripts/test-deps.sh installs it).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// pyResponse is one response as testdata/managesieve_client.py reports it.
type pyResponse struct {
	Kind string     `json:"kind"`
	Code string     `json:"code"`
	Text string     `json:"text"`
	Data [][]string `json:"data"`
}

// A client we did not write: testdata/managesieve_client.py, plain Python from RFC 5804
// with ssl (verifying our certificate) and base64 for PLAIN. It sees the capabilities
// before and after STARTTLS, logs in through the empty challenge with a literal,
// uploads, activates and reads back a script; the script then files delivered mail.
func TestPythonClient(t *testing.T) {
	python := needTool(t, "python3")
	w := newWorld(t)
	addr := w.start(t, nil)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "filing.sieve")
	if err := os.WriteFile(file, []byte(filingScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "testdata/managesieve_client.py", host, port, w.certFile, userAddr, userPass, file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, stderr.String())
	}
	var r map[string]json.RawMessage
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	resp := func(step string) pyResponse {
		var p pyResponse
		if err := json.Unmarshal(r[step], &p); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return p
	}
	caps := func(p pyResponse) []string {
		var names []string
		for _, d := range p.Data {
			names = append(names, d[0])
		}
		return names
	}
	if got := caps(resp("greeting")); !slices.Contains(got, "STARTTLS") || !slices.Contains(got, "SIEVE") {
		t.Errorf("greeting capabilities %v", got)
	}
	if got := caps(resp("capabilities_tls")); slices.Contains(got, "STARTTLS") || !slices.Contains(got, "SASL") {
		t.Errorf("capabilities after STARTTLS %v", got)
	}
	for step, want := range map[string]string{
		"authenticate": "OK", "havespace": "OK", "checkscript_bad": "NO", "putscript": "OK",
		"setactive": "OK", "getscript": "OK", "putscript_spare": "OK", "renamescript": "OK",
		"delete_active": "NO", "delete_spare": "OK", "noop": "OK", "logout": "OK",
	} {
		if got := resp(step); got.Kind != want {
			t.Errorf("%s: %+v, want %s", step, got, want)
		}
	}
	if got := resp("checkscript_bad"); !strings.HasPrefix(got.Text, "line 3, column 1: missing") {
		t.Errorf("CHECKSCRIPT of a broken script: %+v", got)
	}
	if got := resp("delete_active"); got.Code != "ACTIVE" {
		t.Errorf("DELETESCRIPT of the active script: %+v", got)
	}
	if got := resp("noop"); got.Code != `TAG "tag-1"` {
		t.Errorf("NOOP: %+v", got)
	}
	if got := resp("listscripts_end"); !slices.EqualFunc(got.Data, [][]string{{"filing", "ACTIVE"}}, slices.Equal) {
		t.Errorf("LISTSCRIPTS at the end: %+v", got)
	}
	if string(r["script_back"]) != "true" {
		t.Errorf("GETSCRIPT did not return the script byte for byte: %s", r["getscript"])
	}
	w.checkFiling(t)
}

// sieve-connect (Debian's package, a Perl client using IO::Socket::SSL and Authen::SASL)
// against the server: it verifies our certificate, uploads a script, lists, activates,
// downloads, checks a broken script, deletes, and the uploaded script files delivered
// mail.
func TestSieveConnect(t *testing.T) {
	bin := needTool(t, "sieve-connect")
	w := newWorld(t)
	addr := w.start(t, nil)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	local := filepath.Join(dir, "filing.sieve")
	if err := os.WriteFile(local, []byte(filingScript), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		t.Helper()
		pw, err := os.CreateTemp(dir, "pw")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pw.WriteString(userPass + "\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := pw.Seek(0, 0); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := pw.Close(); err != nil {
				t.Error(err)
			}
		}()
		base := []string{"--server", host, "--port", port, "--user", userAddr, "--passwordfd", "3",
			"--authmech", "PLAIN", "--tlscafile", w.certFile, "--tlshostname", "localhost", "--noclearauth"}
		cmd := exec.Command(bin, append(base, args...)...)
		cmd.ExtraFiles = []*os.File{pw}
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("sieve-connect %v: %v\n%s", args, err, out)
		}
		return out
	}
	mustRun("--upload", "--localsieve", local, "--remotesieve", "filing")
	mustRun("--upload", "--localsieve", local, "--remotesieve", "spare")
	mustRun("--activate", "--remotesieve", "filing")
	if out := mustRun("--list"); !strings.Contains(out, "filing") || !strings.Contains(out, "spare") {
		t.Fatalf("--list: %s", out)
	}
	back := filepath.Join(dir, "back.sieve")
	mustRun("--download", "--remotesieve", "filing", "--localsieve", back)
	if got, err := os.ReadFile(back); err != nil || string(got) != filingScript {
		t.Fatalf("downloaded %q (%v), want the uploaded script", got, err)
	}
	broken := filepath.Join(dir, "broken.sieve")
	if err := os.WriteFile(broken, []byte("if true {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run("--checkscript", "--localsieve", broken); err == nil || !strings.Contains(out, "line") {
		t.Fatalf("--checkscript of a broken script: %v\n%s", err, out)
	}
	if out, err := run("--delete", "--remotesieve", "filing"); err == nil {
		t.Fatalf("deleting the active script succeeded:\n%s", out)
	}
	mustRun("--delete", "--remotesieve", "spare")
	scripts, err := w.Filter.Scripts(t.Context(), refOf(w))
	if err != nil || len(scripts) != 1 || scripts[0].Name != "filing" || !scripts[0].Active {
		t.Fatalf("scripts %+v, %v", scripts, err)
	}
	w.checkFiling(t)
}
