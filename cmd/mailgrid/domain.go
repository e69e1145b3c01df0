package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mailgrid/internal/app"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// domainView is a domain as printed.
type domainView struct {
	Name            string    `json:"name"`
	Unicode         string    `json:"unicode,omitempty"`
	Enabled         bool      `json:"enabled"`
	MaxMessageBytes int64     `json:"max_message_bytes"`
	MaxQuotaBytes   int64     `json:"max_quota_bytes"`
	MaxUsers        int       `json:"max_users"`
	Accounts        int       `json:"accounts"`
	CreatedAt       time.Time `json:"created_at"`
}

func domainCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "domain", Short: "Manage domains (tenants)"}
	c.AddCommand(domainAddCmd(e), domainListCmd(e), domainShowCmd(e), domainDelCmd(e))
	return c
}

func domainAddCmd(e *env) *cobra.Command {
	var maxMsg, maxQuota string
	var maxUsers int
	c := &cobra.Command{
		Use:   "add DOMAIN",
		Short: "Add a domain (Unicode or punycode)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			msg, err := parseSize(maxMsg)
			if err != nil {
				return err
			}
			quota, err := parseSize(maxQuota)
			if err != nil {
				return err
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				d, err := s.Admin.AddDomain(cmd.Context(), directory.Domain{
					Name: args[0], MaxMessageBytes: msg, MaxQuotaBytes: quota, MaxUsers: maxUsers,
				})
				if err != nil {
					return err
				}
				return e.printDomains([]domainView{viewDomain(d, 0)})
			})
		},
	}
	c.Flags().StringVar(&maxMsg, "max-message-size", "0", "largest message (e.g. 25M); 0 = the server limit")
	c.Flags().StringVar(&maxQuota, "max-quota", "0", "largest (and default) account quota (e.g. 2G); 0 = unlimited")
	c.Flags().IntVar(&maxUsers, "max-users", 0, "number of accounts; 0 = unlimited")
	return c
}

func domainListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List domains",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				ds, err := s.Dir.Domains(cmd.Context())
				if err != nil {
					return err
				}
				views := make([]domainView, 0, len(ds))
				for _, d := range ds {
					accts, err := s.Dir.Accounts(cmd.Context(), d.Name)
					if err != nil {
						return err
					}
					views = append(views, viewDomain(d, len(accts)))
				}
				return e.printDomains(views)
			})
		},
	}
}

func domainShowCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show DOMAIN",
		Short: "Show one domain",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := mail.ParseDomain(args[0])
			if err != nil {
				return fmt.Errorf("domain %q: %w", args[0], err)
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				d, err := s.Dir.Domain(cmd.Context(), name)
				if err != nil {
					return fmt.Errorf("domain %s: %w", name, err)
				}
				accts, err := s.Dir.Accounts(cmd.Context(), name)
				if err != nil {
					return err
				}
				return e.printDomains([]domainView{viewDomain(d, len(accts))})
			})
		},
	}
}

func domainDelCmd(e *env) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "del DOMAIN",
		Short: "Delete a domain (refused while it has accounts or aliases, unless --force)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				if err := s.Admin.DeleteDomain(cmd.Context(), args[0], force); err != nil {
					return fmt.Errorf("domain %s: %w", args[0], err)
				}
				fmt.Fprintf(e.stdout, "deleted %s\n", args[0])
				return nil
			})
		},
	}
	c.Flags().BoolVar(&force, "force", false, "also delete the domain's accounts, their mail and its aliases")
	return c
}

func viewDomain(d directory.Domain, accounts int) domainView {
	v := domainView{Name: d.Name, Enabled: d.Enabled, MaxMessageBytes: d.MaxMessageBytes,
		MaxQuotaBytes: d.MaxQuotaBytes, MaxUsers: d.MaxUsers, Accounts: accounts, CreatedAt: d.CreatedAt}
	if u := mail.DomainUnicode(d.Name); u != d.Name {
		v.Unicode = u
	}
	return v
}

func (e *env) printDomains(ds []domainView) error {
	return e.print(ds, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "DOMAIN\tENABLED\tACCOUNTS\tMAX USERS\tMAX QUOTA\tMAX MESSAGE")
		for _, d := range ds {
			name := d.Name
			if d.Unicode != "" {
				name += " (" + d.Unicode + ")"
			}
			maxUsers := "unlimited"
			if d.MaxUsers > 0 {
				maxUsers = fmt.Sprint(d.MaxUsers)
			}
			fmt.Fprintf(w, "%s\t%v\t%d\t%s\t%s\t%s\n", name, d.Enabled, d.Accounts, maxUsers,
				formatSize(d.MaxQuotaBytes, true), formatSize(d.MaxMessageBytes, true))
		}
	})
}
