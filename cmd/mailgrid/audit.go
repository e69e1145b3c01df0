package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mailgrid/internal/app"
	"mailgrid/internal/directory"
)

// auditView is an audit entry in --json output.
type auditView struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Role   string    `json:"role,omitempty"`
	Via    string    `json:"via"`
	Remote string    `json:"remote,omitempty"`
	Action string    `json:"action"`
	Domain string    `json:"domain,omitempty"`
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
}

// auditCmd searches the audit log: every change made through the console, the API or this
// CLI, newest first.
func auditCmd(e *env) *cobra.Command {
	var q directory.AuditQuery
	var domain, since string
	c := &cobra.Command{
		Use:   "audit",
		Short: "Search the audit log (changes through console, API and CLI), newest first",
		Example: "  mailgrid audit --domain example.com --action account.\n" +
			"  mailgrid audit --text alice --since 24h",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if domain != "" {
				q.Domains = []string{domain}
			}
			if since != "" {
				d, err := time.ParseDuration(since)
				if err != nil || d <= 0 {
					return fmt.Errorf("--since %q: want a positive duration such as 24h", since)
				}
				q.Since = time.Now().Add(-d)
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				es, err := cli(s).Audit(cmd.Context(), q)
				if err != nil {
					return err
				}
				vs := make([]auditView, 0, len(es))
				for _, a := range es {
					vs = append(vs, auditView{ID: a.ID, At: a.At, Actor: a.Actor, Role: string(a.Role), Via: a.Via,
						Remote: a.Remote, Action: a.Action, Domain: a.Domain, Target: a.Target, Detail: a.Detail})
				}
				return e.print(vs, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "ID\tWHEN\tACTOR\tVIA\tREMOTE\tACTION\tTARGET\tDETAIL")
					for _, a := range es {
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.At.UTC().Format(time.RFC3339),
							a.Actor, a.Via, dash(a.Remote), a.Action, a.Target, a.Detail)
					}
				})
			})
		},
	}
	f := c.Flags()
	f.StringVar(&domain, "domain", "", "only changes of this domain")
	f.StringVar(&q.Action, "action", "", `exact action ("account.update") or a prefix ending in "." ("account.")`)
	f.StringVar(&q.Target, "target", "", "exact target (a domain, an address, an alias source)")
	f.StringVar(&q.Text, "text", "", "substring of actor, target or detail")
	f.StringVar(&since, "since", "", "only changes this recent (e.g. 24h)")
	f.IntVar(&q.Limit, "limit", 100, "at most this many entries")
	return c
}

// dash shows an empty table cell as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
