package config

// Fetch configures the webmail's external POP3 accounts (docs/webmail.md "External
// accounts").
type Fetch struct {
	// AllowPrivate lets users fetch from loopback, private (RFC 1918, RFC 4193),
	// link-local and unspecified addresses. Off, every address a remote host resolves to
	// is checked when the server connects, so a user cannot reach the operator's own
	// network through the server (SSRF).
	AllowPrivate bool `toml:"allow_private"`
}
