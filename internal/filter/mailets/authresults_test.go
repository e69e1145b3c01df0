package mailets_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/dns"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/testkit/dnsserver"
)

func TestAuthResultsOnLoopbackDNS(t *testing.T) {
	srv := dnsserver.Start(t)
	srv.SetTXT("remote.example", "v=spf1 ip4:192.0.2.10 -all")
	srv.SetTXT("_dmarc.remote.example", "v=DMARC1; p=reject")
	res := dns.New([]string{srv.Addr()}, 2*time.Second)
	e := stack(t, func(_ *deliverytest.Env, c *filter.Chains) {
		add(t, c, filter.StageData, filter.Rule{Mailet: &mailets.AuthResults{Resolver: res, AuthServID: "mx.local.test", EnforceDMARC: true}, Timeout: 10 * time.Second})
	})
	a := e.Account(t, "a@local.test", "pw-a-1234", 0)
	msg := "Authentication-Results: mx.local.test; spf=pass smtp.mailfrom=ceo@remote.example\r\n" +
		"Authentication-Results: relay.other.example; dkim=pass header.d=other.example\r\n" +
		"From: Someone <x@remote.example>\r\nTo: a@local.test\r\nSubject: hello\r\n\r\nHello.\r\n"

	env := envTo("x@remote.example", "a@local.test")
	env.ClientIP, env.HELO = netip.MustParseAddr("192.0.2.10"), "mail.remote.example"
	if reply, _ := deliver(t, e, env, msg); reply != nil {
		t.Fatal(reply)
	}
	got := headerOf(only(t, e, a, ""))
	if !strings.HasPrefix(got, "Return-Path: <x@remote.example>\r\nAuthentication-Results: mx.local.test;\r\n") {
		t.Fatalf("ours is not on top:\n%s", got)
	}
	for _, want := range []string{"spf=pass smtp.mailfrom=x@remote.example", "dmarc=pass", "header.from=remote.example",
		"Authentication-Results: relay.other.example; dkim=pass"} {
		if !strings.Contains(got, want) {
			t.Errorf("header lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "Authentication-Results: mx.local.test") != 1 || strings.Contains(got, "smtp.mailfrom=ceo@") {
		t.Errorf("the forged field claiming our authserv-id survived:\n%s", got)
	}

	// From an address SPF does not allow: SPF fails, DMARC fails, p=reject is enforced.
	env = envTo("x@remote.example", "a@local.test")
	env.ClientIP, env.HELO = netip.MustParseAddr("198.51.100.7"), "spoofer.example"
	reply, _ := deliver(t, e, env, msg)
	wantReply(t, reply, 550, [3]int{5, 7, 1})
	if !strings.Contains(reply.Message, "DMARC") {
		t.Errorf("reply %q", reply.Message)
	}
}
