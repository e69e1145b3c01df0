package imapserver_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"mailgrid/internal/imapserver"
)

// needTool skips when an external client is missing, except under CI where it must be
// there.
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

// TestPythonImaplib runs testdata/python/imaplib_client.py, which logs in over STARTTLS
// and implicit TLS and exercises LIST, SELECT, FETCH (sections, BODYSTRUCTURE), SEARCH,
// STORE, COPY, EXPUNGE, APPEND, UID commands, QUOTA and IDLE with Python's imaplib.
func TestPythonImaplib(t *testing.T) {
	py := needTool(t, "python3")
	w := newWorld(t)
	for _, f := range []string{"simple.eml", "multipart.eml"} {
		msg, err := os.ReadFile("testdata/messages/" + f)
		if err != nil {
			t.Fatal(err)
		}
		w.deliver(t, w.user, "INBOX", string(msg))
	}
	_, addr := w.server(t, nil)
	_, tlsAddr := w.server(t, func(o *imapserver.Options) { o.ImplicitTLS = true })
	_, port, _ := net.SplitHostPort(addr)
	_, tlsPort, _ := net.SplitHostPort(tlsAddr)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/python/imaplib_client.py", "127.0.0.1", port, tlsPort)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib client: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	_ = strconv.Itoa
}
