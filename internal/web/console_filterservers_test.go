package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/clamd"
	"mailgrid/internal/filter/filtertest"
	"mailgrid/internal/web"
)

// The filter servers page and API with a real clamd: up while it runs, with the node's
// calls counted; down with its error once stopped (after "check now"); system admins
// only.
func TestFilterServersPageAndAPI(t *testing.T) {
	cd := filtertest.StartClamd(t)
	srv := filter.NewServers(nil)
	var cc *clamd.Client
	rec := srv.Add(filter.ServerInfo{Name: "virus", Kind: filter.KindClamd, Address: "unix:" + cd.Socket,
		Stages: []filter.Stage{filter.StageData}}, func(ctx context.Context) error { return cc.Ping(ctx) })
	cc, err := clamd.New(clamd.Config{Network: "unix", Address: cd.Socket, Timeout: 30 * time.Second, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(o *web.Options) { o.Filters.Servers, o.Filters.Node = srv, "node-a" })
	if _, err := cc.Scan(context.Background(), strings.NewReader("Subject: x\r\n\r\n"+filtertest.ClamdPattern+"\r\n")); err != nil {
		t.Fatal(err)
	}
	sys := h.loggedIn("root@sys.example")
	type answer struct {
		Node  string `json:"node"`
		Items []struct {
			Name, Kind, Address, Policy string
			Health                      struct {
				State     string `json:"state"`
				LastError string `json:"last_error"`
			} `json:"health"`
			Latency struct {
				Samples int `json:"samples"`
			} `json:"latency"`
			Calls, Errors, Timeouts int
		} `json:"items"`
	}
	st, body := sys.do("GET", "/api/v1/filter-servers", nil)
	var a answer
	decodeJSON(t, body, &a)
	if st != http.StatusOK || a.Node != "node-a" || len(a.Items) != 1 {
		t.Fatalf("filter servers: %d %s", st, body)
	}
	if it := a.Items[0]; it.Kind != "clamd" || it.Policy != "fail-closed" || it.Health.State != "up" || it.Calls != 1 ||
		it.Errors != 0 || it.Latency.Samples != 1 {
		t.Fatalf("clamd running: %s", body)
	}
	st, body = sys.do("GET", "/console/filters/servers", nil)
	if page := string(body); st != http.StatusOK || !strings.Contains(page, "node-a") ||
		!strings.Contains(page, `class="health health-up"`) || !strings.Contains(page, "unix:"+cd.Socket) {
		t.Fatalf("page: %d %s", st, body)
	}

	cd.Stop(t)
	// A fresh check is not repeated by a plain view: still up.
	if _, body = sys.do("GET", "/api/v1/filter-servers", nil); !strings.Contains(string(body), `"state":"up"`) {
		t.Fatalf("plain view after the stop re-checked: %s", body)
	}
	st, body = sys.do("GET", "/console/filters/servers?check=1", nil)
	if page := string(body); st != http.StatusOK || !strings.Contains(page, `class="health health-down"`) ||
		!strings.Contains(page, "clamd unavailable") {
		t.Fatalf("page after check now: %d %s", st, body)
	}
	decodeJSON(t, must(t, sys, "/api/v1/filter-servers"), &a)
	if it := a.Items[0]; it.Health.State != "down" || it.Health.LastError == "" {
		t.Fatalf("API after the check: %+v", a)
	}

	da := h.loggedIn("da@a.example")
	if st, body := da.do("GET", "/api/v1/filter-servers?check=1", nil); st != http.StatusForbidden || errorCode(t, body) != "forbidden" {
		t.Errorf("domain admin API: %d %s", st, body)
	}
	if st, _ := da.do("GET", "/console/filters/servers", nil); st != http.StatusForbidden {
		t.Errorf("domain admin page: %d", st)
	}
	if st, body := da.do("GET", "/console/", nil); st != http.StatusOK || strings.Contains(string(body), "/console/filters/servers") {
		t.Errorf("domain admin sees the filter servers link: %d", st)
	}
}

func must(t *testing.T, c *client, path string) []byte {
	t.Helper()
	st, body := c.do("GET", path, nil)
	if st != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, st, body)
	}
	return body
}
