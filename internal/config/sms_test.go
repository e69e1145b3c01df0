package config

import (
	"strings"
	"testing"
)

// [sms] is off by default; a set gateway is checked with the other keys.
func TestSMSKeys(t *testing.T) {
	c, err := Load("")
	if err != nil || c.SMS.GatewayURL != "" || c.SMS.Retries != 3 {
		t.Fatalf("defaults: %+v %v", c.SMS, err)
	}
	good := "[sms]\ngateway_url = \"https://sms.example.net/send\"\nmethod = \"get\"\nbody_template = 'to={{urlquery .To}}&text={{urlquery .Text}}'\n"
	if _, err := Load(writeFile(t, good)); err != nil {
		t.Fatalf("good [sms]: %v", err)
	}
	for name, bad := range map[string]string{
		"url":      "gateway_url = \"ftp://x/\"",
		"method":   "gateway_url = \"http://x/\"\nmethod = \"DELETE\"",
		"template": "gateway_url = \"http://x/\"\nbody_template = \"{{\"",
		"retries":  "gateway_url = \"http://x/\"\nretries = -1",
		"header":   "gateway_url = \"http://x/\"\nauth_header = \"a\\r\\nX: y\"",
	} {
		if _, err := Load(writeFile(t, "[sms]\n"+bad+"\n")); err == nil || !strings.Contains(err.Error(), "sms") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
