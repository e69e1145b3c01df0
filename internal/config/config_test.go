package config

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mailgrid.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsValid(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.SMTP != "127.0.0.1:2525" || c.Listen.Submission != "127.0.0.1:2587" || c.Listen.Submissions != "127.0.0.1:2465" {
		t.Fatalf("listeners: %+v", c.Listen)
	}
	if c.Outbound.SMTPPort != 25 || c.Queue.Lifetime.D() != 120*time.Hour {
		t.Fatalf("outbound/queue defaults: %+v %+v", c.Outbound, c.Queue)
	}
}

func TestIssueKeys(t *testing.T) {
	// The keys operators' files use (the core issue's list) must keep working.
	p := writeFile(t, `
data = "/srv/mail"
hostname = "Mail.Example.TEST"
[listen]
smtp = "127.0.0.1:2526"
submission = ""
submissions = "127.0.0.1:2466"
imap = "127.0.0.1:1144"
imaps = "127.0.0.1:1994"
pop3 = "127.0.0.1:1111"
pop3s = "127.0.0.1:1996"
http = "127.0.0.1:8081"
[dns]
servers = ["127.0.0.1:5353"]
[outbound]
smtp_port = 2599
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != "/srv/mail" || c.Hostname != "mail.example.test" || c.Listen.Submission != "" ||
		c.Listen.SMTP != "127.0.0.1:2526" || c.DNS.Servers[0] != "127.0.0.1:5353" || c.Outbound.SMTPPort != 2599 {
		t.Fatalf("decoded: %+v", c)
	}
	if c.SMTP.MaxRecipients != 100 {
		t.Fatalf("unset keys must keep defaults, got %d", c.SMTP.MaxRecipients)
	}
}

func TestUnknownKeysRejected(t *testing.T) {
	for _, body := range []string{
		"hostnme = \"x.test\"\n",
		"[listen]\nsmpt = \"127.0.0.1:25\"\n",
		"[nosuch]\nx = 1\n",
	} {
		if _, err := Load(writeFile(t, body)); err == nil || !strings.Contains(err.Error(), "unknown keys") {
			t.Errorf("%q: want unknown keys error, got %v", body, err)
		}
	}
}

func TestInvalidValues(t *testing.T) {
	for _, body := range []string{
		"hostname = \"not a host\"\n",
		"[listen]\nsmtp = \"nocolon\"\n",
		"[dns]\nservers = [\"1.2.3.4\"]\n",
		"[outbound]\nsmtp_port = 70000\n",
		"[queue]\nfirst_retry = \"-1s\"\n",
		"[queue]\nfirst_retry = \"soon\"\n",
		"[tls]\ncert_file = \"a.pem\"\n",
		"[log]\nlevel = \"loud\"\n",
		"[node]\nmemory_limit_bytes = -1\n",
		"[node]\nsqlite_heap_limit_bytes = -1\n",
	} {
		if _, err := Load(writeFile(t, body)); err == nil {
			t.Errorf("%q: accepted", body)
		}
	}
}

// TestDocsComplete keeps docs/config.md true: its example decodes with no unknown keys to
// exactly the defaults (but hostname), and its table names every key.
func TestDocsComplete(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```toml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("no toml block in docs/config.md")
	}
	c, err := Load(writeFile(t, string(m[1])))
	if err != nil {
		t.Fatalf("docs example: %v", err)
	}
	def := Default()
	c.Hostname, def.Hostname = "", ""
	var a, b bytes.Buffer
	if err := toml.NewEncoder(&a).Encode(c); err != nil {
		t.Fatal(err)
	}
	if err := toml.NewEncoder(&b).Encode(def); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("docs example differs from Default():\n--- docs\n%s\n--- code\n%s", a.String(), b.String())
	}
	// Every key of the encoded defaults appears in the table as `section.key`.
	section := ""
	for _, line := range strings.Split(b.String(), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]") + "."
			continue
		}
		k, _, ok := strings.Cut(line, " =")
		if !ok {
			continue
		}
		if !bytes.Contains(doc, []byte("| `"+section+k+"` |")) {
			t.Errorf("docs/config.md table lacks `%s%s`", section, k)
		}
	}
}

func TestClusterKeys(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Clustered() || c.Cluster.Heartbeat.D() != 5*time.Second || c.Cluster.DownAfter.D() != 30*time.Second ||
		c.Queue.Lease.D() != time.Hour {
		t.Fatalf("cluster defaults: %+v lease %v", c.Cluster, c.Queue.Lease.D())
	}
	if h, err := os.Hostname(); err == nil && h != "" && c.NodeName() != h {
		t.Fatalf("default node name %q, want the host name %q", c.NodeName(), h)
	}
	p := writeFile(t, `
[cluster]
directory = "postgres://mailgrid@127.0.0.1:5432/mailgrid_dir"
heartbeat = "1s"
down_after = "4s"
[node]
name = "n1"
[queue]
lease = "10s"
`)
	c, err = Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Clustered() || c.NodeName() != "n1" || c.Cluster.Heartbeat.D() != time.Second ||
		c.Cluster.DownAfter.D() != 4*time.Second || c.Queue.Lease.D() != 10*time.Second {
		t.Fatalf("decoded: %+v %+v lease %v", c.Cluster, c.Node, c.Queue.Lease.D())
	}
	// The key=value DSN form is accepted too.
	if _, err := Load(writeFile(t, "[cluster]\ndirectory = \"host=127.0.0.1 dbname=dir\"\n")); err != nil {
		t.Fatal(err)
	}
}

func TestClusterInvalid(t *testing.T) {
	for _, body := range []string{
		"[cluster]\ndirectory = \"mysql://x\"\n",
		"[cluster]\nheartbeat = \"0s\"\n",
		"[cluster]\nheartbeat = \"10s\"\ndown_after = \"10s\"\n",
		"[node]\nname = \"n 1\"\n",
		"[node]\nname = \"n/1\"\n",
		"[queue]\nlease = \"0s\"\n",
		"[cluster]\nshards = []\n", // shards live in the directory, never in node files
		"[cluster]\npublic_addresses = [\"mx.example.net\"]\n",
	} {
		if _, err := Load(writeFile(t, body)); err == nil {
			t.Errorf("%q: accepted", body)
		}
	}
}
