package pop3server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// needTool finds an external client: missing, the test is skipped, except under CI=true
// where it fails (the Makefile's test-deps installs it).
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

type poplibResult struct {
	Welcome    string   `json:"welcome"`
	CapaBefore []string `json:"capa_before"`
	CapaAfter  []string `json:"capa_after"`
	Login      string   `json:"login"`
	Stat       []int    `json:"stat"`
	List       []string `json:"list"`
	UIDL       []string `json:"uidl"`
	Retr       []string `json:"retr"`
	Top        string   `json:"top"`
	Dele       []string `json:"dele"`
	Quit       string   `json:"quit"`
}

// runPoplib runs testdata/poplib_client.py against addr.
func (w *world) runPoplib(t *testing.T, python, addr, mode string, dele ...int) poplibResult {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"testdata/poplib_client.py", host, port, w.certFile, userAddr, userPass, mode}
	for _, n := range dele {
		args = append(args, fmt.Sprint(n))
	}
	cmd := exec.Command(python, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("poplib %s: %v\n%s", mode, err, stderr.String())
	}
	var r poplibResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("poplib output %q: %v", out, err)
	}
	return r
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Python's poplib: STLS with certificate verification, USER/PASS and AUTH PLAIN,
// STAT/LIST/UIDL/RETR/TOP/DELE/QUIT; messages arrive byte-exact; deletions happen at QUIT
// only, and a dropped connection deletes nothing.
func TestPythonPoplib(t *testing.T) {
	python := needTool(t, "python3")
	w := newWorld(t)
	msgs := [][]byte{testMessage(1, 400), testMessage(2, 100_000), testMessage(3, 3000)}
	w.deliver(t, msgs...)
	addr := w.start(t, nil)

	// A dropped connection after DELE of everything: nothing deleted.
	r := w.runPoplib(t, python, addr, "user-drop", 1, 2, 3)
	if len(r.Dele) != 3 || r.Quit != "" {
		t.Fatalf("drop run: %+v", r)
	}
	checkPoplib(t, r, msgs)
	if n := len(w.inbox(t)); n != 3 {
		t.Fatalf("after a dropped session the store holds %d messages, want 3", n)
	}

	// The lock of the dropped session goes when the server notices the close.
	for i := 0; ; i++ {
		c := dialGreeted(t, addr)
		c.stls()
		c.cmd("USER " + userAddr)
		if strings.HasPrefix(c.cmd("PASS "+userPass), "+OK") {
			c.cmd("QUIT")
			break
		} else if i == 200 {
			t.Fatal("maildrop still locked after the dropped session")
		}
		c.cmd("QUIT")
		waitABit()
	}

	// AUTH PLAIN, DELE 2, QUIT: exactly message 2 is gone.
	r = w.runPoplib(t, python, addr, "plain", 2)
	checkPoplib(t, r, msgs)
	if r.Quit != "+OK pop.test POP3 server signing off (2 messages left)" {
		t.Fatalf("QUIT = %q", r.Quit)
	}
	left := w.inbox(t)
	if len(left) != 2 || !bytes.Equal(left[0], msgs[0]) || !bytes.Equal(left[1], msgs[2]) {
		t.Fatalf("after QUIT the store holds %d messages, want messages 1 and 3", len(left))
	}

	// USER/PASS: the UIDs of the remaining messages are those of the first session.
	r2 := w.runPoplib(t, python, addr, "user")
	if len(r2.UIDL) != 2 || r2.UIDL[0] != r.UIDL[0] || r2.UIDL[1][2:] != r.UIDL[2][2:] {
		t.Fatalf("UIDL not stable: %q then %q", r.UIDL, r2.UIDL)
	}
}

func checkPoplib(t *testing.T, r poplibResult, msgs [][]byte) {
	t.Helper()
	if !strings.HasPrefix(r.Welcome, "+OK") || slices.Contains(r.CapaBefore, "USER") ||
		!slices.Contains(r.CapaBefore, "STLS") || !slices.Contains(r.CapaAfter, "USER") ||
		!slices.Contains(r.CapaAfter, "SASL") || !slices.Contains(r.CapaAfter, "UIDL") {
		t.Errorf("greeting/capabilities: %q %q %q", r.Welcome, r.CapaBefore, r.CapaAfter)
	}
	if !strings.HasPrefix(r.Login, "+OK") {
		t.Fatalf("login: %q", r.Login)
	}
	total := 0
	for i, m := range msgs {
		total += len(m)
		if want := fmt.Sprintf("%d %d", i+1, len(m)); r.List[i] != want {
			t.Errorf("LIST line %q, want %q", r.List[i], want)
		}
		if got := b64(t, r.Retr[i]); !bytes.Equal(got, m) {
			t.Errorf("RETR %d: %d bytes differ from the %d stored", i+1, len(got), len(m))
		}
	}
	if !slices.Equal(r.Stat, []int{len(msgs), total}) {
		t.Errorf("STAT %v", r.Stat)
	}
	head, body, _ := bytes.Cut(msgs[0], []byte("\r\n\r\n"))
	lines := bytes.SplitAfter(body, []byte("\r\n"))
	want := string(head) + "\r\n\r\n" + string(lines[0]) + string(lines[1])
	if got := string(b64(t, r.Top)); got != want {
		t.Errorf("TOP 1 2 = %q, want %q", got, want)
	}
}

// fetchmail (Debian package "fetchmail") retrieves everything over POP3 with STLS and
// hands each message to an MDA that writes a file; every message arrives intact and is
// deleted from the store.
func TestFetchmail(t *testing.T) {
	fetchmail := needTool(t, "fetchmail")
	w := newWorld(t)
	msgs := [][]byte{testMessage(1, 500), testMessage(2, 80_000), testMessage(3, 2000), testMessage(4, 300)}
	w.deliver(t, msgs...)
	host, port, err := net.SplitHostPort(w.start(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	outDir := filepath.Join(dir, "delivered")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		t.Fatal(err)
	}
	mda := filepath.Join(dir, "mda.sh")
	script := "#!/bin/sh\nexec cat > \"$(mktemp " + outDir + "/msg.XXXXXX)\"\n"
	if err := os.WriteFile(mda, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(dir, "fetchmailrc")
	conf := fmt.Sprintf(`set no bouncemail
set invisible
poll %s service %s protocol POP3
  user "%s" there with password "%s"
  sslproto "tls1.2+" no sslcertck
  mda "%s" no stripcr
  fetchall nokeep
`, host, port, userAddr, userPass, mda)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fetchmail, "--fetchmailrc", rc, "--nosyslog", "--verbose", "--pidfile", filepath.Join(dir, "pid"))
	cmd.Env = append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fetchmail: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "STLS") {
		t.Errorf("fetchmail did not use STLS:\n%s", out)
	}
	files, err := filepath.Glob(filepath.Join(outDir, "msg.*"))
	if err != nil || len(files) != len(msgs) {
		t.Fatalf("%d files delivered (%v), want %d\n%s", len(files), err, len(msgs), out)
	}
	var got [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b)
	}
	for i, m := range msgs {
		if !slices.ContainsFunc(got, func(b []byte) bool { return bytes.Equal(b, m) }) {
			t.Errorf("message %d not delivered intact by fetchmail\n%s", i+1, out)
		}
	}
	if n := len(w.inbox(t)); n != 0 {
		t.Errorf("after fetchmail the store holds %d messages, want 0", n)
	}
}
