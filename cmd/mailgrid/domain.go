package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mailgrid/internal/admin"
	"mailgrid/internal/app"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// domainView is a domain as printed.
type domainView struct {
	Name            string `json:"name"`
	Unicode         string `json:"unicode,omitempty"`
	Enabled         bool   `json:"enabled"`
	MaxMessageBytes int64  `json:"max_message_bytes"`
	MaxQuotaBytes   int64  `json:"max_quota_bytes"`
	MaxUsers        int    `json:"max_users"`
	// MaxAttachmentBytes is the domain's own attachment limit; 0: its plan's.
	MaxAttachmentBytes int64 `json:"max_attachment_bytes"`
	// DisabledServices are the services no account of the domain may use; [] when none.
	DisabledServices []string  `json:"disabled_services"`
	Accounts         int       `json:"accounts"`
	Plan             string    `json:"plan,omitempty"` // shown by domain show
	CreatedAt        time.Time `json:"created_at"`
	// DeletedAt and PurgeAt are set while the domain is deleted (restorable until PurgeAt).
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	PurgeAt   *time.Time `json:"purge_at,omitempty"`
}

func domainCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "domain", Short: "Manage domains (tenants)"}
	c.AddCommand(domainAddCmd(e), domainListCmd(e), domainShowCmd(e), domainSetCmd(e), domainDelCmd(e), domainSSOCmd(e),
		domainRestoreCmd(e), domainPurgeCmd(e), domainAdminsCmd(e), domainAliasCmd(e)) // domain_lifecycle.go
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
				d, err := cli(s).CreateDomain(cmd.Context(), directory.Domain{
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
	var deleted bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List domains (--deleted: the deleted ones awaiting their purge)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				ds, err := s.Dir.Domains(cmd.Context())
				if err != nil {
					return err
				}
				views := make([]domainView, 0, len(ds))
				for _, d := range ds {
					if d.Deleted() != deleted {
						continue
					}
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
	c.Flags().BoolVar(&deleted, "deleted", false, "list the deleted domains (restorable until their purge) instead")
	return c
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
				v := viewDomain(d, len(accts))
				p, err := cli(s).DomainPlan(cmd.Context(), name)
				if err != nil {
					return err
				}
				if p != nil {
					v.Plan = p.Name
				}
				if err := e.printDomains([]domainView{v}); err != nil {
					return err
				}
				if !e.json && v.Plan != "" {
					fmt.Fprintf(e.stdout, "plan: %s\n", v.Plan)
				}
				return nil
			})
		},
	}
}

// domainSettings are the flags of "domain set"; each applies only when given.
type domainSettings struct {
	services         serviceFlags
	maxMsg, maxQuota string
	maxUsers         int
	maxAttach        string
}

func domainSetCmd(e *env) *cobra.Command {
	var ds domainSettings
	c := &cobra.Command{
		Use:   "set DOMAIN",
		Short: "Change a domain's service switches (--disable, --enable) and limits",
		Long: "Change a domain's service switches and limits. --disable and --enable take service names\n" +
			"(" + strings.Join(directory.Services(), ", ") + ", or all), comma-separated or repeated;\n" +
			"a service the domain disables is refused to every account of the domain at its next login.",
		Example: "  mailgrid domain set example.com --disable imap,pop3 --enable webmail",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := mail.ParseDomain(args[0])
			if err != nil {
				return fmt.Errorf("domain %q: %w", args[0], err)
			}
			f := cmd.Flags()
			if !ds.services.given() && !f.Changed("max-message-size") && !f.Changed("max-quota") && !f.Changed("max-users") &&
				!f.Changed("max-attachment-size") {
				return errors.New("nothing to change: give --disable, --enable, --max-message-size, --max-attachment-size, --max-quota or --max-users")
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				d, err := s.Dir.Domain(cmd.Context(), name)
				if err != nil {
					return fmt.Errorf("domain %s: %w", name, err)
				}
				if d, err = ds.apply(cmd, d); err != nil {
					return err
				}
				u := admin.DomainUpdate{MaxMessageBytes: &d.MaxMessageBytes, MaxQuotaBytes: &d.MaxQuotaBytes,
					MaxUsers: &d.MaxUsers, DisabledServices: &d.DisabledServices, MaxAttachmentBytes: &d.MaxAttachmentBytes}
				if d, err = cli(s).UpdateDomain(cmd.Context(), name, u); err != nil {
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
	ds.services.register(c, "every account of the domain")
	f := c.Flags()
	f.StringVar(&ds.maxMsg, "max-message-size", "0", "largest message (e.g. 25M); 0 = the server limit")
	f.StringVar(&ds.maxQuota, "max-quota", "0", "largest (and default) account quota (e.g. 2G); 0 = unlimited")
	f.IntVar(&ds.maxUsers, "max-users", 0, "number of accounts; 0 = unlimited")
	f.StringVar(&ds.maxAttach, "max-attachment-size", "0", "largest attachment (e.g. 10M), within the plan's; 0 = the plan's")
	return c
}

// apply returns d with the given flags applied.
func (ds *domainSettings) apply(cmd *cobra.Command, d directory.Domain) (directory.Domain, error) {
	f := cmd.Flags()
	var err error
	if ds.services.given() {
		if d.DisabledServices, err = ds.services.apply(d.DisabledServices); err != nil {
			return d, err
		}
	}
	if f.Changed("max-message-size") {
		if d.MaxMessageBytes, err = parseSize(ds.maxMsg); err != nil {
			return d, err
		}
	}
	if f.Changed("max-quota") {
		if d.MaxQuotaBytes, err = parseSize(ds.maxQuota); err != nil {
			return d, err
		}
	}
	if f.Changed("max-users") {
		if ds.maxUsers < 0 {
			return d, errors.New("--max-users must be >= 0")
		}
		d.MaxUsers = ds.maxUsers
	}
	if f.Changed("max-attachment-size") {
		if d.MaxAttachmentBytes, err = parseSize(ds.maxAttach); err != nil {
			return d, err
		}
	}
	return d, nil
}

// serviceFlags are --disable and --enable of the set commands: service names,
// comma-separated or repeated, "all" for every service.
type serviceFlags struct{ disable, enable []string }

func (sf *serviceFlags) register(c *cobra.Command, whom string) {
	names := strings.Join(directory.Services(), ", ")
	c.Flags().StringSliceVar(&sf.disable, "disable", nil, "services to switch off for "+whom+" ("+names+", or all)")
	c.Flags().StringSliceVar(&sf.enable, "enable", nil, "services to switch back on (same names)")
}

func (sf *serviceFlags) given() bool { return len(sf.disable)+len(sf.enable) > 0 }

// apply returns cur with the --disable services added and the --enable ones removed,
// sorted. A service named in both is an error, as is an unknown name.
func (sf *serviceFlags) apply(cur []string) ([]string, error) {
	off, err := expandServices(sf.disable)
	if err != nil {
		return nil, err
	}
	on, err := expandServices(sf.enable)
	if err != nil {
		return nil, err
	}
	for _, s := range off {
		if slices.Contains(on, s) {
			return nil, fmt.Errorf("service %s is both in --disable and --enable", s)
		}
	}
	next := slices.DeleteFunc(append(slices.Clone(cur), off...), func(s string) bool { return slices.Contains(on, s) })
	return directory.NormServices(next)
}

// expandServices validates flag values; "all" stands for every service.
func expandServices(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "all" {
			out = append(out, directory.Services()...)
			continue
		}
		if !directory.ValidService(n) {
			return nil, fmt.Errorf("unknown service %q: want %s or all", n, strings.Join(directory.Services(), ", "))
		}
		out = append(out, n)
	}
	return out, nil
}

// formatServices prints a list of disabled services for a table: "-" when none.
func formatServices(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func viewDomain(d directory.Domain, accounts int) domainView {
	v := domainView{Name: d.Name, Enabled: d.Enabled, MaxMessageBytes: d.MaxMessageBytes,
		MaxQuotaBytes: d.MaxQuotaBytes, MaxUsers: d.MaxUsers, Accounts: accounts, CreatedAt: d.CreatedAt,
		MaxAttachmentBytes: d.MaxAttachmentBytes,
		DisabledServices:   append([]string{}, d.DisabledServices...)}
	if u := mail.DomainUnicode(d.Name); u != d.Name {
		v.Unicode = u
	}
	if d.Deleted() {
		v.DeletedAt, v.PurgeAt = &d.DeletedAt, &d.PurgeAt
	}
	return v
}

func (e *env) printDomains(ds []domainView) error {
	return e.print(ds, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "DOMAIN\tENABLED\tACCOUNTS\tMAX USERS\tMAX QUOTA\tMAX MESSAGE\tDISABLED SERVICES")
		for _, d := range ds {
			name := d.Name
			if d.Unicode != "" {
				name += " (" + d.Unicode + ")"
			}
			maxUsers := "unlimited"
			if d.MaxUsers > 0 {
				maxUsers = fmt.Sprint(d.MaxUsers)
			}
			enabled := fmt.Sprint(d.Enabled)
			if d.PurgeAt != nil {
				enabled = "deleted (purge " + d.PurgeAt.Format(time.DateOnly) + ")"
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", name, enabled, d.Accounts, maxUsers,
				formatSize(d.MaxQuotaBytes, true), formatSize(d.MaxMessageBytes, true), formatServices(d.DisabledServices))
		}
	})
}
