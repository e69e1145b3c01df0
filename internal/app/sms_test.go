package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/config"
	"mailgrid/internal/delivery"
	"mailgrid/internal/directory"
	"mailgrid/internal/dns"
	"mailgrid/internal/mail"
	"mailgrid/internal/obs"
)

// [sms] wires the notification mailet into the node's local stage: a delivery to an
// account with a matching rule on a plan with SMS reaches the gateway, and the workers
// stop with the filters (goleak in TestMain). Without gateway_url SMS is off.
func TestSMSWiring(t *testing.T) {
	got := make(chan string, 4)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
	}))
	defer gw.Close()
	c := config.Default()
	c.Data, c.Hostname, c.Listen = t.TempDir(), "mail.sms.test", config.Listen{}
	c.SMS.GatewayURL, c.SMS.AuthHeader = gw.URL, "Bearer k"
	s, err := Open(context.Background(), c, obs.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	ctx := context.Background()
	flt, err := s.openFilters(ctx, dns.New([]string{"127.0.0.1:9"}, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := flt.Close(); err != nil {
			t.Error(err)
		}
	}()
	if flt.smsService() == nil || !flt.smsService().Enabled() {
		t.Fatal("no SMS service with [sms] gateway_url set")
	}
	ps := s.Dir.(directory.PlanStore)
	if err := ps.CreatePlan(ctx, directory.Plan{Name: "pro", SMS: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Dir.CreateDomain(ctx, directory.Domain{Name: "sms.test", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := ps.SetDomainPlan(ctx, "sms.test", "pro"); err != nil {
		t.Fatal(err)
	}
	a, err := s.Dir.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("u@sms.test"), Password: "pw-123456789"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Dir.(directory.SMSStore).SetSMSRule(ctx, directory.SMSRule{AccountID: a.ID, Domain: "sms.test", Phone: "+15550100", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	p := delivery.New(delivery.Options{Directory: s.Dir, Shards: s.Shards, Hostname: c.Hostname, Filters: flt.chains, Quarantine: flt.db})
	res, err := p.Deliver(ctx, &delivery.Envelope{From: mail.MustParse("x@remote.test"),
		Recipients: []delivery.Recipient{{Addr: a.Address}}}, delivery.Bytes("From: x@remote.test\r\nSubject: hi\r\n\r\nbody\r\n"))
	if err != nil || res[0].Err != nil {
		t.Fatalf("deliver: %v %+v", err, res)
	}
	select {
	case auth := <-got:
		if auth != "Bearer k" {
			t.Fatalf("gateway saw Authorization %q", auth)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no notification reached the gateway")
	}
}

func TestSMSOff(t *testing.T) {
	c := config.Default()
	c.Data, c.Listen = t.TempDir(), config.Listen{}
	s, err := Open(context.Background(), c, obs.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	flt, err := s.openFilters(context.Background(), dns.New([]string{"127.0.0.1:9"}, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := flt.Close(); err != nil {
			t.Error(err)
		}
	}()
	if flt.smsService() != nil {
		t.Fatal("SMS on without gateway_url")
	}
	c.SMS.GatewayURL = "ftp://nowhere"
	s.Cfg = c
	if _, err := s.openFilters(context.Background(), dns.New([]string{"127.0.0.1:9"}, time.Second)); err == nil || !strings.Contains(err.Error(), "gateway_url") {
		t.Fatalf("bad gateway_url: %v", err)
	}
}
