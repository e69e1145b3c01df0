package imapserver_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"mailgrid/internal/imapserver"
	"mailgrid/internal/store"
)

// mbsyncMessages is the size of the mailbox synchronised by TestMbsyncTwoWay.
const mbsyncMessages = 300

// TestMbsyncTwoWay synchronises INBOX both ways with mbsync (isync 1.4, a client we did
// not write) between our server over implicit TLS and a local Maildir: a first sync
// pulls a few hundred messages with their flags; then both sides change (flags set and
// cleared locally and remotely, a message deleted on each side, a new message on each
// side) and a second sync must leave both sides equal to what the changes imply: the
// same messages (count and contents, compared without the line-ending and X-TUID
// differences of the two stores) with the same system flags.
func TestMbsyncTwoWay(t *testing.T) {
	bin := needTool(t, "mbsync")
	w := newWorld(t)
	want := map[string][]string{} // Message-ID -> flags, the state both sides must reach
	deliverMany(t, w, mbsyncMessages, func(i int) (string, []string) {
		var flags []string
		for _, f := range []struct {
			every int
			flag  string
		}{{5, store.FlagSeen}, {7, store.FlagFlagged}, {11, store.FlagAnswered}} {
			if i%f.every == 0 {
				flags = append(flags, f.flag)
			}
		}
		want[msgID(i)] = sortedFlags(flags)
		return mbsyncMessage(i, msgID(i)), flags
	})
	_, addr := w.server(t, func(o *imapserver.Options) { o.ImplicitTLS = true })
	_, startTLSAddr := w.server(t, nil) // the other client's way in, same store
	root := t.TempDir()
	maildir := filepath.Join(root, "mail", "INBOX")
	conf := writeMbsyncConfig(t, root, addr, w.certFile)

	runMbsync(t, bin, conf, root)
	compareSides(t, w, maildir, want, "after the first sync")

	// Local changes: flags set and cleared, a deletion, a new message.
	local := maildirFiles(t, maildir)
	setMaildirFlags(t, local[msgID(10)], "FS")  // + \Flagged \Seen
	setMaildirFlags(t, local[msgID(30)], "")    // - \Seen
	setMaildirFlags(t, local[msgID(33)], "DRS") // + \Draft \Answered \Seen (was \Answered)
	want[msgID(10)] = []string{store.FlagFlagged, store.FlagSeen}
	want[msgID(30)] = nil
	want[msgID(33)] = []string{store.FlagAnswered, store.FlagDraft, store.FlagSeen}
	if err := os.Remove(local[msgID(40)]); err != nil {
		t.Fatal(err)
	}
	delete(want, msgID(40))
	newLocal := "local-new@mbsync.test"
	writeFile(t, filepath.Join(maildir, "new", "1700000000.mgtest.local"), strings.ReplaceAll(mbsyncMessage(1000, newLocal), "\r\n", "\n"))
	want[newLocal] = nil

	// Remote changes, over IMAP: flags set and cleared, a deletion; a new delivery.
	c := login(t, startTLSAddr)
	c.ok("SELECT INBOX")
	c.ok(`UID STORE 50 +FLAGS.SILENT (\Flagged)`)
	c.ok(`UID STORE 60 -FLAGS.SILENT (\Seen)`)
	c.ok(`UID STORE 61 +FLAGS.SILENT (\Seen \Answered)`)
	c.ok(`UID STORE 70 +FLAGS.SILENT (\Deleted)`)
	c.ok("EXPUNGE")
	c.ok("LOGOUT")
	want[msgID(50)] = []string{store.FlagFlagged, store.FlagSeen}
	want[msgID(60)] = nil
	want[msgID(61)] = []string{store.FlagAnswered, store.FlagSeen}
	delete(want, msgID(70))
	newRemote := "remote-new@mbsync.test"
	w.deliver(t, w.user, "INBOX", mbsyncMessage(2000, newRemote), store.FlagFlagged)
	want[newRemote] = []string{store.FlagFlagged}

	runMbsync(t, bin, conf, root)
	if len(want) != mbsyncMessages {
		t.Fatalf("test bug: %d messages expected", len(want))
	}
	compareSides(t, w, maildir, want, "after changes on both sides and a second sync")
}

func msgID(i int) string { return fmt.Sprintf("m%d@mbsync.test", i) }

// mbsyncMessage is message i with Message-ID id, CRLF lines as the server stores them
// (w.deliver turns "\n" into CRLF).
func mbsyncMessage(i int, id string) string {
	return fmt.Sprintf("From: Sender %d <s%d@example.org>\nTo: user@local.test\nSubject: message %d\nMessage-ID: <%s>\nDate: Sat, 14 Mar 2026 15:09:26 +0100\n\nbody of message %d\n%s\n",
		i%13, i%13, i, id, i, strings.Repeat(fmt.Sprintf("line %d of some text\n", i), i%20))
}

// deliverMany stores n messages in the user's INBOX; msg(i) gives message i (1..n) and
// its flags; message i gets UID i.
func deliverMany(t *testing.T, w *world, n int, msg func(i int) (string, []string)) {
	t.Helper()
	for i := 1; i <= n; i++ {
		body, flags := msg(i)
		if uid := w.deliver(t, w.user, "INBOX", body, flags...); uid != store.UID(i) {
			t.Fatalf("message %d got UID %d", i, uid)
		}
	}
}

// writeMbsyncConfig writes an mbsync 1.4 configuration for one channel: INBOX of our
// server (implicit TLS, our self-signed certificate trusted as a host certificate)
// against a Maildir under root, synchronising everything both ways and expunging on
// both sides.
func writeMbsyncConfig(t *testing.T, root, addr, certFile string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	mail := filepath.Join(root, "mail")
	if err := os.Mkdir(mail, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`IMAPAccount mailgrid
Host %s
Port %s
User user@local.test
Pass user-password
SSLType IMAPS
SystemCertificates no
CertificateFile %s
Timeout 30

IMAPStore far
Account mailgrid

MaildirStore near
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel inbox
Far :far:
Near :near:
Patterns INBOX
Create Both
Expunge Both
Sync All
SyncState *
CopyArrivalDate yes
`, host, port, certFile, mail, mail)
	file := filepath.Join(root, "mbsyncrc")
	writeFile(t, file, conf)
	return file
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// runMbsync runs one synchronisation of every channel.
func runMbsync(t *testing.T, bin, conf, home string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*deadline)
	defer cancel()
	args := []string{"-c", conf, "-a"}
	if os.Getenv("MBSYNC_DEBUG") != "" { // the whole IMAP dialog, when a sync fails
		args = append(args, "-Dn")
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mbsync: %v\n%s", err, out)
	}
}

var (
	messageIDLine = regexp.MustCompile(`(?mi)^Message-ID: <([^>]*)>`)
	tuidLine      = regexp.MustCompile(`(?m)^X-TUID: [^\n]*\n`)
)

// normalized is a message as both sides must hold it: LF line ends (Maildir's) and
// without the X-TUID header mbsync may add to find a message it uploaded.
func normalized(b []byte) string {
	return tuidLine.ReplaceAllString(strings.ReplaceAll(string(b), "\r\n", "\n"), "")
}

// side is one store's view: Message-ID -> flags and normalised content.
type side struct {
	flags   map[string][]string
	content map[string]string
}

func (sd side) add(t *testing.T, where string, raw []byte, flags []string) {
	t.Helper()
	body := normalized(raw)
	m := messageIDLine.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s: message without Message-ID:\n%s", where, body)
	}
	if _, dup := sd.flags[m[1]]; dup {
		t.Fatalf("%s: message %s twice", where, m[1])
	}
	sd.flags[m[1]], sd.content[m[1]] = sortedFlags(flags), body
}

func sortedFlags(flags []string) []string {
	if len(flags) == 0 {
		return nil
	}
	out := slices.Clone(flags)
	slices.Sort(out)
	return out
}

// serverSide reads the user's INBOX through the store (not through IMAP).
func serverSide(t *testing.T, w *world) side {
	t.Helper()
	ctx := context.Background()
	sd := side{flags: map[string][]string{}, content: map[string]string{}}
	mb, err := w.st.Mailbox(ctx, ref(w.user), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []store.Message
	if err := w.st.Messages(ctx, ref(w.user), mb.ID, store.Query{NoMeta: true}, func(m store.Message) error {
		msgs = append(msgs, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		b, err := w.st.OpenBlob(ctx, ref(w.user), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
		closeT(t, b)
		if err != nil {
			t.Fatal(err)
		}
		sd.add(t, fmt.Sprintf("server UID %d", m.UID), raw, m.Flags)
	}
	return sd
}

// maildirFlags maps Maildir info flags to IMAP system flags (P, "passed", has none).
var maildirFlags = map[rune]string{'D': store.FlagDraft, 'F': store.FlagFlagged, 'R': store.FlagAnswered,
	'S': store.FlagSeen, 'T': store.FlagDeleted}

// maildirFiles returns the files of a Maildir folder by Message-ID.
func maildirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			p := filepath.Join(dir, sub, e.Name())
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if m := messageIDLine.FindSubmatch(raw); m != nil {
				out[string(m[1])] = p
			}
		}
	}
	return out
}

func maildirSide(t *testing.T, dir string) side {
	t.Helper()
	sd := side{flags: map[string][]string{}, content: map[string]string{}}
	files := maildirFiles(t, dir)
	for _, p := range files {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var flags []string
		if _, info, ok := strings.Cut(filepath.Base(p), ":2,"); ok {
			for _, r := range info {
				if f, ok := maildirFlags[r]; ok {
					flags = append(flags, f)
				}
			}
		}
		sd.add(t, p, raw, flags)
	}
	return sd
}

// setMaildirFlags renames a Maildir message to carry exactly flags (letters in ASCII
// order) and moves it to cur/, as a mail reader does.
func setMaildirFlags(t *testing.T, path, flags string) {
	t.Helper()
	base, _, _ := strings.Cut(filepath.Base(path), ":2,")
	dst := filepath.Join(filepath.Dir(filepath.Dir(path)), "cur", base+":2,"+flags)
	if err := os.Rename(path, dst); err != nil {
		t.Fatal(err)
	}
}

// compareSides checks that the server and the Maildir both hold exactly want (by
// Message-ID, with those flags) and the same content for every message.
func compareSides(t *testing.T, w *world, maildir string, want map[string][]string, when string) {
	t.Helper()
	srv, loc := serverSide(t, w), maildirSide(t, maildir)
	for name, sd := range map[string]side{"server": srv, "maildir": loc} {
		if len(sd.flags) != len(want) {
			t.Errorf("%s: %s holds %d messages, want %d", when, name, len(sd.flags), len(want))
		}
		for _, id := range slices.Sorted(maps.Keys(want)) {
			got, ok := sd.flags[id]
			if !ok {
				t.Errorf("%s: %s lacks %s", when, name, id)
			} else if !slices.Equal(got, want[id]) {
				t.Errorf("%s: %s has %s with flags %v, want %v", when, name, id, got, want[id])
			}
		}
	}
	for id, body := range srv.content {
		if lb, ok := loc.content[id]; ok && lb != body {
			t.Errorf("%s: %s differs:\nserver:\n%s\nmaildir:\n%s", when, id, body, lb)
		}
	}
}
