package imapserver_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestImapflow runs test/imap-node/client.mjs with npm's imapflow@2.10.2 (pinned with a
// committed lockfile; `npm ci` installs it when node_modules is missing): FETCH of
// envelopes, structure and sources, download of a decoded part, SEARCH, CONDSTORE
// changedSince, MOVE with COPYUID, and IDLE seeing a message appended by another
// connection. The same script's idle-smtp mode, IDLE seeing a message delivered over
// SMTP, needs the built binary's MX and is run by test/e2e
// (TestImapflowIDLESeesSMTPDelivery).
func TestImapflow(t *testing.T) {
	node := needTool(t, "node")
	dir, err := filepath.Abs("../../test/imap-node")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*deadline)
	defer cancel()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "imapflow")); err != nil {
		npm := needTool(t, "npm")
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	w := newWorld(t)
	for _, f := range []string{"simple.eml", "multipart.eml"} {
		msg, err := os.ReadFile("testdata/messages/" + f)
		if err != nil {
			t.Fatal(err)
		}
		w.deliver(t, w.user, "INBOX", string(msg))
	}
	_, addr := w.server(t, nil)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.CommandContext(ctx, node, "client.mjs", "127.0.0.1", port)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("imapflow client: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
