package web

import (
	"net/http"
	"strings"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// The JSON shapes of the API (api/openapi.yaml "components/schemas"). They are written
// out field by field: a directory type never goes to a client as it is, so a new field
// (or the password hash) cannot leak by accident.

type domainView struct {
	Name             string    `json:"name"`
	NameUnicode      string    `json:"name_unicode"`
	Enabled          bool      `json:"enabled"`
	MaxMessageBytes  int64     `json:"max_message_bytes"`
	MaxQuotaBytes    int64     `json:"max_quota_bytes"`
	MaxUsers         int       `json:"max_users"`
	DisabledServices []string  `json:"disabled_services"`
	CreatedAt        time.Time `json:"created_at"`
	// MaxAttachmentBytes is the domain's own attachment limit; 0: its plan's applies.
	MaxAttachmentBytes int64 `json:"max_attachment_bytes"`
	// DeletedAt and PurgeAt: only while the domain is deleted (restorable until PurgeAt).
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	PurgeAt   *time.Time `json:"purge_at,omitempty"`
}

func viewDomain(d directory.Domain) domainView {
	v := domainView{Name: d.Name, NameUnicode: mail.DomainUnicode(d.Name), Enabled: d.Enabled,
		MaxMessageBytes: d.MaxMessageBytes, MaxQuotaBytes: d.MaxQuotaBytes, MaxUsers: d.MaxUsers,
		DisabledServices: nonNilStrings(d.DisabledServices), CreatedAt: d.CreatedAt,
		MaxAttachmentBytes: d.MaxAttachmentBytes}
	if d.Deleted() {
		v.DeletedAt, v.PurgeAt = &d.DeletedAt, &d.PurgeAt
	}
	return v
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type accountView struct {
	ID               int64     `json:"id"`
	Address          string    `json:"address"`
	Domain           string    `json:"domain"`
	Role             string    `json:"role"`
	AdminDomains     []string  `json:"admin_domains"`
	Enabled          bool      `json:"enabled"`
	QuotaBytes       int64     `json:"quota_bytes"`
	QuotaMessages    int64     `json:"quota_messages"`
	UsedBytes        *int64    `json:"used_bytes,omitempty"`
	UsedMessages     *int64    `json:"used_messages,omitempty"`
	Shard            string    `json:"shard"`
	DisabledServices []string  `json:"disabled_services"`
	CreatedAt        time.Time `json:"created_at"`
}

func viewAccount(a directory.Account) accountView {
	return accountView{ID: a.ID, Address: a.Address.String(), Domain: a.Address.Domain, Role: string(a.Role),
		AdminDomains: nonNilStrings(a.AdminDomains), Enabled: a.Enabled, QuotaBytes: a.QuotaBytes,
		QuotaMessages: a.QuotaMessages, Shard: a.Shard, DisabledServices: nonNilStrings(a.DisabledServices),
		CreatedAt: a.CreatedAt}
}

func viewAccountInfo(a admin.AccountInfo) accountView {
	v := viewAccount(a.Account)
	v.UsedBytes, v.UsedMessages = &a.Usage.Bytes, &a.Usage.Messages
	return v
}

type aliasView struct {
	Source  string   `json:"source"`
	Domain  string   `json:"domain"`
	Targets []string `json:"targets"`
}

func viewAlias(a directory.Alias) aliasView {
	return aliasView{Source: a.Source, Domain: a.Domain, Targets: nonNilStrings(a.Targets)}
}

type sessionView struct {
	ID         int64     `json:"id"`
	Current    bool      `json:"current"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	RemoteAddr string    `json:"remote_addr"`
	UserAgent  string    `json:"user_agent"`
}

type tokenView struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// Token is the secret, present only in the answer that creates it.
	Token string `json:"token,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func viewToken(t directory.APIToken) tokenView {
	return tokenView{ID: t.ID, Name: t.Name, Scopes: nonNilStrings(t.Scopes), CreatedAt: t.CreatedAt,
		ExpiresAt: optTime(t.ExpiresAt), LastUsedAt: optTime(t.LastUsedAt)}
}

type auditView struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	ActorID int64     `json:"actor_id"`
	Role    string    `json:"role"`
	Via     string    `json:"via"`
	Remote  string    `json:"remote"`
	Action  string    `json:"action"`
	Domain  string    `json:"domain"`
	Target  string    `json:"target"`
	Detail  string    `json:"detail"`
}

func viewAudit(e directory.AuditEntry) auditView {
	return auditView{ID: e.ID, At: e.At, Actor: e.Actor, ActorID: e.ActorID, Role: string(e.Role), Via: e.Via,
		Remote: e.Remote, Action: e.Action, Domain: e.Domain, Target: e.Target, Detail: e.Detail}
}

// list wraps a collection, so the answer can grow fields (paging) without breaking.
type list[T any] struct {
	Items []T `json:"items"`
}

func listOf[S any, T any](in []S, view func(S) T) list[T] {
	out := make([]T, 0, len(in))
	for _, v := range in {
		out = append(out, view(v))
	}
	return list[T]{Items: out}
}

// scoped is the admin service as the caller of r.
func (s *Server) scoped(r *http.Request, p *principal) *admin.Scoped {
	via := "api"
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		via = "console"
	}
	return s.svc.As(admin.Actor{Account: p.acct, Via: via, Remote: clientIP(r)})
}
