package config

import "time"

// SMS configures the operator's SMS gateway (docs/webmail.md "SMS"): notifications of new
// mail and "send as SMS" from the webmail, for domains whose plan enables SMS. An empty
// GatewayURL turns SMS off.
type SMS struct {
	GatewayURL   string   `toml:"gateway_url"`   // http(s) endpoint; "" = SMS off
	Method       string   `toml:"method"`        // POST, PUT or GET (the template is then the query string)
	AuthHeader   string   `toml:"auth_header"`   // Authorization header value, e.g. "Bearer ..."; "" = none
	BodyTemplate string   `toml:"body_template"` // Go text/template over .To (E.164) and .Text; funcs json, urlquery
	ContentType  string   `toml:"content_type"`
	Timeout      Duration `toml:"timeout"`     // one request
	Retries      int      `toml:"retries"`     // further attempts of a notification after a temporary failure
	RetryDelay   Duration `toml:"retry_delay"` // before the first retry, doubled for each next one
}

// defaultSMS is [sms] without a gateway: off.
func defaultSMS() SMS {
	return SMS{Method: "POST", BodyTemplate: `{"to":{{json .To}},"text":{{json .Text}}}`, ContentType: "application/json",
		Timeout: Duration(10 * time.Second), Retries: 3, RetryDelay: Duration(5 * time.Second)}
}
