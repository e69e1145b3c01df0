package web

import (
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"mailgrid/internal/admin"
	"mailgrid/internal/mail"
)

// Discovery documents: what other mail servers and mail clients fetch from a hosted
// domain's names (the CNAMEs `mailgrid dns records` prints all point at the node):
//
//   - MTA-STS (RFC 8461 3.3): GET /.well-known/mta-sts.txt with Host mta-sts.DOMAIN
//     answers the policy of admin.MTASTSPolicy for the node's host name in
//     WellKnownOptions.MTASTSMode, as text/plain; 404 for a domain not hosted here.
//     Sending MTAs fetch it over HTTPS only and follow no redirects (RFC 8461 3.3), so
//     the listener must speak TLS with a certificate valid for mta-sts.DOMAIN.
//   - Thunderbird autoconfig (Mozilla's "config-v1.1.xml" format): GET
//     /mail/config-v1.1.xml (at autoconfig.DOMAIN) and
//     /.well-known/autoconfig/mail/config-v1.1.xml (at DOMAIN), the domain from
//     ?emailaddress= or else the Host.
//   - Outlook autodiscover (POX, the 2006a response schema): POST
//     /autodiscover/autodiscover.xml with the EMailAddress in the request body.
//
// Both client documents list the node's IMAP, POP3 and submission endpoints that
// WellKnownOptions names (implicit TLS first), with the whole address as login name.
// Neither says whether an account exists: only the domain is checked, as for MTA-STS.

// WellKnownOptions configure the discovery documents. The addresses are the listeners'
// ("host:port", "" = not served); only their ports are advertised, at the node's host
// name.
type WellKnownOptions struct {
	MTASTSMode  string // testing (""), enforce or none
	IMAPS       string // implicit TLS
	IMAP        string // STARTTLS
	POP3S       string
	POP3        string
	Submissions string // RFC 8314 implicit TLS
	Submission  string // RFC 6409 STARTTLS
}

// wellKnown registers the discovery handlers on mux.
func (s *Server) wellKnown(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/mta-sts.txt", s.mtaSTS)
	mux.HandleFunc("GET /mail/config-v1.1.xml", s.autoconfig)
	mux.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", s.autoconfig)
	for _, p := range []string{"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"} {
		mux.HandleFunc("POST "+p, s.autodiscover)
	}
}

// mailHost is the host name the documents point at: the MX of the DNS records.
func (s *Server) mailHost() string { return s.dnsSource().Host }

// hostedDomain parses name and reports it when it is a domain hosted here; "" (and a
// logged fault, answered 503) otherwise.
func (s *Server) hostedDomain(w http.ResponseWriter, r *http.Request, name string) string {
	d, err := mail.ParseDomain(strings.TrimSuffix(name, "."))
	if err != nil {
		http.NotFound(w, r)
		return ""
	}
	ok, err := s.dir.IsLocalDomain(r.Context(), d)
	if err != nil {
		s.log.Warn("discovery: directory", "domain", d, "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return ""
	}
	if !ok {
		http.NotFound(w, r)
		return ""
	}
	return d
}

// requestHost is the Host of r without port, lower case.
func requestHost(r *http.Request) string {
	h := r.Host
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(h)
}

// mtaSTS serves the MTA-STS policy (RFC 8461 3.2, 3.3).
func (s *Server) mtaSTS(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(requestHost(r), "mta-sts.")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if s.hostedDomain(w, r, rest) == "" {
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	if _, err := io.WriteString(w, admin.MTASTSPolicy(s.mailHost(), s.opt.WellKnown.MTASTSMode)); err != nil {
		s.log.Debug("mta-sts: write", "err", err)
	}
}

// endpoint is one client endpoint the documents advertise.
type endpoint struct {
	proto  string // imap, pop3, smtp
	port   int
	socket string // SSL (implicit TLS) or STARTTLS
}

// endpoints lists the configured endpoints, implicit TLS first per protocol (RFC 8314
// 5.1 prefers it).
func (o WellKnownOptions) endpoints() []endpoint {
	var out []endpoint
	for _, e := range []struct{ proto, addr, socket string }{
		{"imap", o.IMAPS, "SSL"}, {"imap", o.IMAP, "STARTTLS"},
		{"pop3", o.POP3S, "SSL"}, {"pop3", o.POP3, "STARTTLS"},
		{"smtp", o.Submissions, "SSL"}, {"smtp", o.Submission, "STARTTLS"},
	} {
		if _, p, err := net.SplitHostPort(e.addr); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n > 0 {
				out = append(out, endpoint{e.proto, n, e.socket})
			}
		}
	}
	return out
}

// Mozilla autoconfig (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).
type clientConfig struct {
	XMLName  xml.Name      `xml:"clientConfig"`
	Version  string        `xml:"version,attr"`
	Provider emailProvider `xml:"emailProvider"`
}

type emailProvider struct {
	ID       string         `xml:"id,attr"`
	Domain   string         `xml:"domain"`
	Display  string         `xml:"displayName"`
	Short    string         `xml:"displayShortName"`
	Incoming []clientServer `xml:"incomingServer"`
	Outgoing []clientServer `xml:"outgoingServer"`
}

type clientServer struct {
	Type     string `xml:"type,attr"`
	Hostname string `xml:"hostname"`
	Port     int    `xml:"port"`
	Socket   string `xml:"socketType"`
	Username string `xml:"username"`
	Auth     string `xml:"authentication"`
}

// autoconfig serves Thunderbird's config-v1.1.xml.
func (s *Server) autoconfig(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(requestHost(r), "autoconfig.")
	if a := r.URL.Query().Get("emailaddress"); a != "" {
		addr, err := mail.Parse(a)
		if err != nil {
			http.Error(w, "emailaddress: not an address", http.StatusBadRequest)
			return
		}
		name = addr.Domain
	}
	d := s.hostedDomain(w, r, name)
	if d == "" {
		return
	}
	cc := clientConfig{Version: "1.1", Provider: emailProvider{ID: d, Domain: d, Display: d, Short: d}}
	for _, e := range s.opt.WellKnown.endpoints() {
		cs := clientServer{Type: e.proto, Hostname: s.mailHost(), Port: e.port, Socket: e.socket,
			Username: "%EMAILADDRESS%", Auth: "password-cleartext"}
		if e.proto == "smtp" {
			cc.Provider.Outgoing = append(cc.Provider.Outgoing, cs)
		} else {
			cc.Provider.Incoming = append(cc.Provider.Incoming, cs)
		}
	}
	s.writeXML(w, cc)
}

// Outlook autodiscover, POX (MS-OXDSCLI 2.2.3 request, 2.2.4 response schema 2006a).
const (
	autodiscoverNS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	outlookNS      = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

type autodiscoverRequest struct {
	Request struct {
		EMailAddress string `xml:"EMailAddress"`
	} `xml:"Request"`
}

type autodiscoverResponse struct {
	XMLName  xml.Name `xml:"Autodiscover"`
	NS       string   `xml:"xmlns,attr"`
	Response struct {
		NS      string `xml:"xmlns,attr"`
		Account struct {
			Type     string       `xml:"AccountType"`
			Action   string       `xml:"Action"`
			Protocol []adProtocol `xml:"Protocol"`
		} `xml:"Account"`
	} `xml:"Response"`
}

type adProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	LoginName      string `xml:"LoginName"`
	DomainRequired string `xml:"DomainRequired"`
	SPA            string `xml:"SPA"`
	Encryption     string `xml:"Encryption"` // SSL: implicit TLS; TLS: STARTTLS
	AuthRequired   string `xml:"AuthRequired"`
}

// maxAutodiscover bounds the request body (a request is a few hundred bytes).
const maxAutodiscover = 16 << 10

// autodiscover answers Outlook's POX request.
func (s *Server) autodiscover(w http.ResponseWriter, r *http.Request) {
	var req autodiscoverRequest
	err := xml.NewDecoder(http.MaxBytesReader(w, r.Body, maxAutodiscover)).Decode(&req)
	var addr mail.Address
	if err == nil {
		addr, err = mail.Parse(strings.TrimSpace(req.Request.EMailAddress))
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "want an autodiscover request with an EMailAddress", http.StatusBadRequest)
		return
	}
	if s.hostedDomain(w, r, addr.Domain) == "" {
		return
	}
	var resp autodiscoverResponse
	resp.NS, resp.Response.NS = autodiscoverNS, outlookNS
	resp.Response.Account.Type, resp.Response.Account.Action = "email", "settings"
	for _, e := range s.opt.WellKnown.endpoints() {
		enc := "SSL"
		if e.socket == "STARTTLS" {
			enc = "TLS"
		}
		resp.Response.Account.Protocol = append(resp.Response.Account.Protocol, adProtocol{
			Type: strings.ToUpper(e.proto), Server: s.mailHost(), Port: e.port, LoginName: addr.String(),
			DomainRequired: "off", SPA: "off", Encryption: enc, AuthRequired: "on"})
	}
	s.writeXML(w, resp)
}

// writeXML writes v as an XML document.
func (s *Server) writeXML(w http.ResponseWriter, v any) {
	out, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		s.log.Error("discovery: marshal", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	if _, err := io.WriteString(w, xml.Header+string(out)+"\n"); err != nil {
		s.log.Debug("discovery: write", "err", err)
	}
}
