package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/testkit/pgtest"
)

// moveScript is the mail client side of TestMoveUser, with Python's smtplib and imaplib:
//
//	send ADDR RCPT N        send N messages in one SMTP session, print each acknowledged Message-ID
//	load ADDR RCPT STOP     send until the file STOP exists; a 4xx is retried, a 5xx fails
//	state ADDR USER PASS    print "UIDVALIDITY v" then "UID uid flags|message-id" per INBOX message
//	flag ADDR USER PASS U   add \Flagged to UIDs U (an IMAP sequence set)
//	bye ADDR USER PASS      SELECT INBOX, IDLE, print "READY", then the BYE line the server sends
const moveScript = `
import imaplib, smtplib, ssl, sys, os, time, re, uuid
mode, addr = sys.argv[1], sys.argv[2]
host, port = addr.rsplit(":", 1)

def msg(mid):
    body = ("x" * 70 + "\r\n") * 56
    return ("From: s@remote.test\r\nTo: %s\r\nSubject: move %s\r\nMessage-ID: <%s>\r\n\r\n%s" % (sys.argv[3], mid, mid, body)).encode()

def send_one(s, mid):
    for attempt in range(300):
        try:
            s.sendmail("s@remote.test", [sys.argv[3]], msg(mid))
            return s
        except smtplib.SMTPResponseException as e:
            if e.smtp_code >= 500:
                sys.exit("permanent %d %r for %s" % (e.smtp_code, e.smtp_error, mid))
        except smtplib.SMTPRecipientsRefused as e:
            code = list(e.recipients.values())[0][0]
            if code >= 500:
                sys.exit("permanent RCPT %d for %s" % (code, mid))
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            pass
        time.sleep(0.05)
        try:
            s.quit()
        except Exception:
            pass
        s = smtplib.SMTP(host, int(port), timeout=30)
    sys.exit("gave up on %s" % mid)

def imap():
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=60)
    m.login(sys.argv[3], sys.argv[4])
    return m

if mode == "send" or mode == "load":
    s = smtplib.SMTP(host, int(port), timeout=30)
    n = 0
    while True:
        if mode == "send" and n >= int(sys.argv[4]):
            break
        if mode == "load" and os.path.exists(sys.argv[4]):
            break
        mid = "%s@remote.test" % uuid.uuid4().hex
        s = send_one(s, mid)
        print(mid, flush=True)
        n += 1
    s.quit()
elif mode == "state":
    m = imap()
    typ, data = m.select("INBOX", readonly=True)
    typ, data = m.response("UIDVALIDITY")
    print("UIDVALIDITY", data[0].decode())
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta = item[0].decode()
        uid = re.search(r"UID (\d+)", meta).group(1)
        flags = re.search(r"FLAGS \(([^)]*)\)", meta).group(1)
        mid = re.search(rb"<([^>]*)>", item[1]).group(1).decode()
        print("UID", uid, flags + "|" + mid)
    m.logout()
elif mode == "flag":
    m = imap()
    m.select("INBOX")
    typ, data = m.uid("STORE", sys.argv[5], "+FLAGS", "(\\Flagged)")
    if typ != "OK":
        sys.exit("STORE %r" % data)
    m.logout()
elif mode == "bye":
    m = imap()
    m.select("INBOX")
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    m.readline()
    print("READY", flush=True)
    m.sock.settimeout(300)
    while True:
        line = m.readline()
        if not line:
            sys.exit("closed without BYE")
        if line.startswith(b"* BYE"):
            print(line.decode().strip(), flush=True)
            break
`

// inboxState is what an IMAP client caches of INBOX: UIDVALIDITY and, per UID, the flags
// and Message-ID.
type inboxState struct {
	uidValidity string
	byUID       map[string]string // uid -> "flags|message-id"
}

func readInbox(t *testing.T, addr, user, pass string) inboxState {
	t.Helper()
	out, err := runPython(moveScript, "state", addr, user, pass)
	if err != nil {
		t.Fatalf("imap state: %v\n%s", err, out)
	}
	s := inboxState{byUID: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(line, " ", 3)
		switch {
		case f[0] == "UIDVALIDITY" && len(f) == 2:
			s.uidValidity = f[1]
		case f[0] == "UID" && len(f) == 3:
			s.byUID[f[1]] = f[2]
		}
	}
	return s
}

type migrationJSON struct {
	ID       int64   `json:"id"`
	Account  string  `json:"account"`
	Kind     string  `json:"kind"`
	From     string  `json:"from"`
	To       string  `json:"to"`
	State    string  `json:"state"`
	Phase    string  `json:"phase"`
	Messages int64   `json:"messages"`
	FenceMS  int64   `json:"fence_ms"`
	Seconds  float64 `json:"seconds"`
}

// TestMoveUser: `mailgrid user move` against two running nodes, with real clients. A user
// with 2,000 messages on shard s1 keeps an IMAP IDLE session on node 1 while SMTP load
// goes to node 2. The first `user move` is killed with SIGKILL during its copy: the journal
// shows it unfinished, placement has not moved. The same command then resumes and
// finishes. Afterwards every acknowledged message is in INBOX exactly once, UIDVALIDITY,
// UIDs and flags are what the IMAP client had, the IDLE session got BYE, placement and
// `migration list` say s2, and shard s1 holds no mail.
func TestMoveUser(t *testing.T) {
	requireTool(t, "python3")
	dirDSN, s1, s2 := pgtest.DSN(t), pgtest.DSN(t), pgtest.DSN(t)
	n1 := NewClusterNode(t, "n1", dirDSN, NodeOptions{})
	n2 := NewClusterNode(t, "n2", dirDSN, NodeOptions{})
	n1.CLI("", "shard", "add", "s1", "--dsn", s1)
	StartAll(t, n1, n2)
	n1.AddUser("alice@example.test", "alice-pw") // the only shard: placed on s1
	n1.CLI("", "shard", "add", "s2", "--dsn", s2)

	const seeded = 2000
	out, err := runPython(moveScript, "send", n2.SMTP, "alice@example.test", fmt.Sprint(seeded))
	if err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	acked := map[string]bool{}
	for _, id := range strings.Fields(out) {
		acked[id] = true
	}
	if out, err := runPython(moveScript, "flag", n1.IMAPS, "alice@example.test", "alice-pw", "1:20"); err != nil {
		t.Fatalf("flag: %v\n%s", err, out)
	}
	before := readInbox(t, n1.IMAPS, "alice@example.test", "alice-pw")
	if len(before.byUID) != seeded {
		t.Fatalf("INBOX holds %d of %d seeded messages", len(before.byUID), seeded)
	}

	// The IMAP session that must get BYE, and the SMTP load.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bye := exec.CommandContext(ctx, "python3", "-c", moveScript, "bye", n1.IMAPS, "alice@example.test", "alice-pw")
	byeOut, err := bye.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var byeErr bytes.Buffer
	bye.Stderr = &byeErr
	if err := bye.Start(); err != nil {
		t.Fatal(err)
	}
	byeLines := bufio.NewScanner(byeOut)
	if !byeLines.Scan() || byeLines.Text() != "READY" {
		t.Fatalf("IDLE session: %q %s", byeLines.Text(), byeErr.String())
	}
	stop := filepath.Join(t.TempDir(), "stop")
	load := exec.CommandContext(ctx, "python3", "-c", moveScript, "load", n2.SMTP, "alice@example.test", stop)
	var loadOut, loadErr bytes.Buffer
	load.Stdout, load.Stderr = &loadOut, &loadErr
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}

	// First attempt: killed during the copy.
	mv := exec.Command(binary, "--config", n1.ConfigFile, "user", "move", "alice@example.test", "--to", "s2")
	var mvOut bytes.Buffer
	mv.Stdout, mv.Stderr = &mvOut, &mvOut
	if err := mv.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill as soon as the target holds part of the mailbox (the first batches are in).
	for i := 0; i < 3000 && shardMessages(t, s2) == 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if err := mv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = mv.Wait()
	var ms []migrationJSON
	n1.JSON(&ms, "migration", "list")
	if len(ms) != 1 || ms[0].State != "running" || (ms[0].Phase != "copy" && ms[0].Phase != "fence") {
		t.Fatalf("journal after kill -9: %+v\n%s", ms, mvOut.String())
	}
	t.Logf("killed in phase %s; the target held %d of %d messages", ms[0].Phase, shardMessages(t, s2), seeded)
	var users []struct {
		Address string `json:"address"`
		Shard   string `json:"shard"`
	}
	n1.JSON(&users, "user", "show", "alice@example.test")
	if users[0].Shard != "s1" {
		t.Fatalf("placement after the killed copy: %+v", users)
	}

	// Second attempt resumes and finishes.
	res := n1.CLI("", "user", "move", "alice@example.test", "--to", "s2", "--json")
	if err := os.WriteFile(stop, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := load.Wait(); err != nil {
		t.Fatalf("SMTP load: %v\n%s", err, loadErr.String())
	}
	for _, id := range strings.Fields(loadOut.String()) {
		acked[id] = true
	}
	if !byeLines.Scan() || !strings.HasPrefix(byeLines.Text(), "* BYE") {
		t.Errorf("IDLE session on the old shard: %q %s", byeLines.Text(), byeErr.String())
	}
	_ = bye.Wait()
	t.Logf("move: %s", strings.TrimSpace(res))

	n2.JSON(&users, "user", "show", "alice@example.test")
	if users[0].Shard != "s2" {
		t.Fatalf("placement after the move: %+v", users)
	}
	n1.JSON(&ms, "migration", "list")
	if len(ms) != 1 || ms[0].State != "done" || ms[0].FenceMS <= 0 {
		t.Errorf("migration list: %+v", ms)
	}
	after := readInbox(t, n2.IMAPS, "alice@example.test", "alice-pw")
	if after.uidValidity != before.uidValidity {
		t.Errorf("UIDVALIDITY %s -> %s", before.uidValidity, after.uidValidity)
	}
	for uid, v := range before.byUID {
		if after.byUID[uid] != v {
			t.Errorf("UID %s: %q before, %q after", uid, v, after.byUID[uid])
		}
	}
	count := map[string]int{}
	for _, v := range after.byUID {
		_, id, _ := strings.Cut(v, "|")
		count[id]++
	}
	for id := range acked {
		if count[id] != 1 {
			t.Errorf("acknowledged %s is in INBOX %d times", id, count[id])
		}
	}
	if len(after.byUID) != len(acked) {
		t.Errorf("INBOX holds %d messages, %d were acknowledged", len(after.byUID), len(acked))
	}
	if got := n2.usedMessages("alice@example.test"); got != int64(len(acked)) {
		t.Errorf("quota usage %d messages, want %d", got, len(acked))
	}
	if n := shardMessages(t, s1); n != 0 {
		t.Errorf("shard s1 still holds %d messages", n)
	}
	t.Logf("%d messages acknowledged in all, %d during the move", len(acked), len(acked)-seeded)
}

// shardMessages counts the messages in a shard database.
func shardMessages(t *testing.T, dsn string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM mailgrid_store.messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
