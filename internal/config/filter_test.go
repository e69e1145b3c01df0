package config

import (
	"strings"
	"testing"
)

func TestExternalFilters(t *testing.T) {
	c, err := Load(writeFile(t, `
[[filter.milter]]
name = "rspamd"
address = "tcp:127.0.0.1:11332"
timeout = "10s"
fail_open = true

[[filter.http_hook]]
name = "policy"
url = "http://127.0.0.1:9000/check"
stages = ["rcpt", "data"]
domain = "example.org"
headers = { Authorization = "Bearer k" }
`))
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Filter.Milters; len(m) != 1 || m[0].Address != "tcp:127.0.0.1:11332" || !m[0].FailOpen || m[0].Timeout.D().String() != "10s" {
		t.Errorf("milters %+v", m)
	}
	if h := c.Filter.HTTPHooks; len(h) != 1 || h[0].Headers["Authorization"] != "Bearer k" || len(h[0].Stages) != 2 {
		t.Errorf("hooks %+v", h)
	}
	if c.HTTP.MTASTSMode != "testing" || !c.Outbound.MTASTS {
		t.Errorf("MTA-STS defaults: served mode %q, outbound %v", c.HTTP.MTASTSMode, c.Outbound.MTASTS)
	}
	if !c.Filter.BlockLists || !c.Filter.JunkTraining {
		t.Error("block lists and junk training are on by default")
	}
	for _, bad := range []string{
		"[[filter.milter]]\nname = \"m\"\naddress = \"127.0.0.1:1\"\n",
		"[[filter.milter]]\naddress = \"tcp:127.0.0.1:1\"\n",
		"[[filter.milter]]\nname = \"x\"\naddress = \"tcp:127.0.0.1:1\"\n[[filter.http_hook]]\nname = \"x\"\nurl = \"http://h/\"\n",
		"[[filter.http_hook]]\nname = \"h\"\nurl = \"ftp://h/\"\n",
		"[[filter.http_hook]]\nname = \"h\"\nurl = \"http://h/\"\nstages = [\"local\"]\n",
		"[[filter.http_hook]]\nname = \"h\"\nurl = \"http://h/\"\nstages = [\"connect\"]\ndomain = \"example.org\"\n",
		"[[filter.milter]]\nname = \"m\"\naddress = \"tcp:h:1\"\ncolour = \"red\"\n",
		"[[filter.milter]]\nname = \"m\"\naddress = \"tcp:h:1\"\nstages = [\"remote\"]\n",
		"[[filter.milter]]\nname = \"m\"\naddress = \"tcp:h:1\"\nstages = [\"connect\", \"data\"]\ndomain = \"example.org\"\n",
		"[http]\nmta_sts_mode = \"strict\"\n",
	} {
		if _, err := Load(writeFile(t, bad)); err == nil {
			t.Errorf("accepted:\n%s", bad)
		} else if strings.TrimSpace(err.Error()) == "" {
			t.Errorf("empty error for %q", bad)
		}
	}
}
