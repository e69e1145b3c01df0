package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"time"
)

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

// validate checks [sms] when a gateway is set (the same rules sms.NewGateway applies at
// start, reported with the other configuration errors).
func (s SMS) validate() []error {
	if s.GatewayURL == "" {
		return nil
	}
	var errs []error
	if u, err := url.Parse(s.GatewayURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("sms.gateway_url %q: want an http(s) URL", s.GatewayURL))
	}
	switch strings.ToUpper(s.Method) {
	case "POST", "PUT", "GET":
	default:
		errs = append(errs, fmt.Errorf("sms.method %q: want POST, PUT or GET", s.Method))
	}
	if strings.ContainsAny(s.AuthHeader, "\r\n") {
		errs = append(errs, errors.New("sms.auth_header: one line"))
	}
	stub := template.FuncMap{"json": func(string) string { return "" }}
	if _, err := template.New("sms").Funcs(stub).Parse(s.BodyTemplate); err != nil {
		errs = append(errs, fmt.Errorf("sms.body_template: %v", err))
	}
	if s.Timeout <= 0 || s.RetryDelay <= 0 || s.Retries < 0 || s.Retries > 10 {
		errs = append(errs, errors.New("sms: timeout and retry_delay > 0, retries 0 to 10"))
	}
	return errs
}
