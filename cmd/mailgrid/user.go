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

// userView is an account as printed; it never carries the password hash.
type userView struct {
	ID            int64    `json:"id"`
	Address       string   `json:"address"`
	Role          string   `json:"role"`
	AdminDomains  []string `json:"admin_domains,omitempty"`
	Enabled       bool     `json:"enabled"`
	QuotaBytes    int64    `json:"quota_bytes"`
	QuotaMessages int64    `json:"quota_messages"`
	UsedBytes     int64    `json:"used_bytes"`
	UsedMessages  int64    `json:"used_messages"`
	Shard         string   `json:"shard"`
	// DisabledServices are the account's own switches ([] when none); its domain's apply too.
	DisabledServices []string  `json:"disabled_services"`
	CreatedAt        time.Time `json:"created_at"`
}

func viewUser(a admin.AccountInfo) userView {
	return userView{ID: a.ID, Address: a.Address.String(), Role: string(a.Role), AdminDomains: a.AdminDomains,
		Enabled: a.Enabled, QuotaBytes: a.QuotaBytes, QuotaMessages: a.QuotaMessages,
		UsedBytes: a.Usage.Bytes, UsedMessages: a.Usage.Messages, Shard: a.Shard, CreatedAt: a.CreatedAt,
		DisabledServices: append([]string{}, a.DisabledServices...)}
}

func (e *env) printUsers(us []userView) error {
	return e.print(us, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ADDRESS\tROLE\tENABLED\tUSED\tQUOTA\tMESSAGES\tSHARD\tDISABLED SERVICES")
		for _, u := range us {
			role := u.Role
			if len(u.AdminDomains) > 0 {
				role += " (" + strings.Join(u.AdminDomains, ",") + ")"
			}
			fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\t%d\t%s\t%s\n", u.Address, role, u.Enabled,
				formatSize(u.UsedBytes, false), formatSize(u.QuotaBytes, true), u.UsedMessages, u.Shard,
				formatServices(u.DisabledServices))
		}
	})
}

func userCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "user", Short: "Manage accounts"}
	c.AddCommand(userAddCmd(e), userListCmd(e), userShowCmd(e), userDelCmd(e), userPasswdCmd(e),
		userQuotaCmd(e), userSetCmd(e), userEnableCmd(e, true), userEnableCmd(e, false))
	return c
}

func parseAddr(s string) (mail.Address, error) {
	a, err := mail.Parse(s)
	if err != nil {
		return a, fmt.Errorf("address %q: %w", s, err)
	}
	return a, nil
}

func userAddCmd(e *env) *cobra.Command {
	var stdin bool
	var quota, role string
	var quotaMsgs int64
	var adminDomains []string
	c := &cobra.Command{
		Use:   "add ADDRESS",
		Short: "Add an account; the password is prompted for, or read from stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := parseAddr(args[0])
			if err != nil {
				return err
			}
			q, err := parseSize(quota)
			if err != nil {
				return err
			}
			r := directory.Role(role)
			if !r.Valid() {
				return fmt.Errorf("role %q: want user, domain-admin or system-admin", role)
			}
			pw, err := e.readPassword(stdin)
			if err != nil {
				return err
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				a, err := cli(s).CreateAccount(cmd.Context(), directory.NewAccount{
					Address: addr, Password: pw, QuotaBytes: q, QuotaMessages: quotaMsgs,
					Role: r, AdminDomains: adminDomains,
				})
				if err != nil {
					return fmt.Errorf("user %s: %w", addr, err)
				}
				return e.printUsers([]userView{viewUser(admin.AccountInfo{Account: a})})
			})
		},
	}
	f := c.Flags()
	f.BoolVar(&stdin, "password-stdin", false, "read the password from the first line of standard input")
	f.StringVar(&quota, "quota", "0", "mailbox quota (e.g. 1G); 0 = the domain's maximum")
	f.Int64Var(&quotaMsgs, "quota-messages", 0, "message count quota; 0 = unlimited")
	f.StringVar(&role, "role", string(directory.RoleUser), "user, domain-admin or system-admin")
	f.StringSliceVar(&adminDomains, "admin-domain", nil, "domains a domain-admin administers (repeatable)")
	return c
}

func userListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list [DOMAIN]",
		Short: "List accounts, of one domain or all",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			domain := ""
			if len(args) == 1 {
				d, err := mail.ParseDomain(args[0])
				if err != nil {
					return fmt.Errorf("domain %q: %w", args[0], err)
				}
				domain = d
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				if domain != "" {
					if _, err := s.Dir.Domain(cmd.Context(), domain); err != nil {
						return fmt.Errorf("domain %s: %w", domain, err)
					}
				}
				accts, err := s.Dir.Accounts(cmd.Context(), domain)
				if err != nil {
					return err
				}
				views := make([]userView, 0, len(accts))
				for _, a := range accts {
					info, err := s.Admin.Account(cmd.Context(), a.Address)
					if err != nil {
						return err
					}
					views = append(views, viewUser(info))
				}
				return e.printUsers(views)
			})
		},
	}
}

func userShowCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show ADDRESS",
		Short: "Show one account with its usage",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := parseAddr(args[0])
			if err != nil {
				return err
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				info, err := s.Admin.Account(cmd.Context(), addr)
				if err != nil {
					return fmt.Errorf("user %s: %w", addr, err)
				}
				return e.printUsers([]userView{viewUser(info)})
			})
		},
	}
}

func userDelCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "del ADDRESS",
		Short: "Delete an account and all its mail",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := parseAddr(args[0])
			if err != nil {
				return err
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				a, err := s.Dir.Account(cmd.Context(), addr)
				if err == nil {
					err = cli(s).DeleteAccount(cmd.Context(), a.Address.Domain, a.ID)
				}
				if err != nil {
					return fmt.Errorf("user %s: %w", addr, err)
				}
				fmt.Fprintf(e.stdout, "deleted %s\n", addr)
				return nil
			})
		},
	}
}

// updateUser applies u to one account and prints the result.
func (e *env) updateUser(cmd *cobra.Command, arg string, u directory.AccountUpdate) error {
	addr, err := parseAddr(arg)
	if err != nil {
		return err
	}
	return e.withSystem(cmd.Context(), func(s *app.System) error {
		a, err := s.Dir.Account(cmd.Context(), addr)
		if err == nil {
			_, err = cli(s).UpdateAccount(cmd.Context(), a.Address.Domain, a.ID, u, "")
		}
		if err != nil {
			return fmt.Errorf("user %s: %w", addr, err)
		}
		info, err := s.Admin.Account(cmd.Context(), addr)
		if err != nil {
			return err
		}
		return e.printUsers([]userView{viewUser(info)})
	})
}

func userPasswdCmd(e *env) *cobra.Command {
	var stdin bool
	c := &cobra.Command{
		Use:   "passwd ADDRESS",
		Short: "Set an account's password",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := parseAddr(args[0]); err != nil {
				return err
			}
			pw, err := e.readPassword(stdin)
			if err != nil {
				return err
			}
			return e.updateUser(cmd, args[0], directory.AccountUpdate{Password: &pw})
		},
	}
	c.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from the first line of standard input")
	return c
}

func userQuotaCmd(e *env) *cobra.Command {
	var bytes string
	var msgs int64
	c := &cobra.Command{
		Use:   "quota ADDRESS --bytes SIZE [--messages N]",
		Short: "Set an account's quota (0 = unlimited within the domain's maximum)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u directory.AccountUpdate
			if cmd.Flags().Changed("bytes") {
				q, err := parseSize(bytes)
				if err != nil {
					return err
				}
				u.QuotaBytes = &q
			}
			if cmd.Flags().Changed("messages") {
				if msgs < 0 {
					return errors.New("--messages must be >= 0")
				}
				u.QuotaMessages = &msgs
			}
			if u.QuotaBytes == nil && u.QuotaMessages == nil {
				return errors.New("nothing to change: give --bytes and/or --messages")
			}
			return e.updateUser(cmd, args[0], u)
		},
	}
	c.Flags().StringVar(&bytes, "bytes", "", "quota in bytes (e.g. 500M, 2G)")
	c.Flags().Int64Var(&msgs, "messages", 0, "quota in messages")
	return c
}

func userSetCmd(e *env) *cobra.Command {
	var sf serviceFlags
	c := &cobra.Command{
		Use:   "set ADDRESS",
		Short: "Change an account's service switches (--disable, --enable)",
		Long: "Change an account's service switches. --disable and --enable take service names\n" +
			"(" + strings.Join(directory.Services(), ", ") + ", or all), comma-separated or repeated.\n" +
			"A service the account's domain disables stays refused whatever the account says.\n" +
			"Switches bind the next login; sessions already logged in are not cut off.",
		Example: "  mailgrid user set alice@example.com --disable pop3\n  mailgrid user set alice@example.com --enable all",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := parseAddr(args[0])
			if err != nil {
				return err
			}
			if !sf.given() {
				return errors.New("nothing to change: give --disable and/or --enable")
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				a, err := s.Dir.Account(cmd.Context(), addr)
				if err != nil {
					return fmt.Errorf("user %s: %w", addr, err)
				}
				next, err := sf.apply(a.DisabledServices)
				if err != nil {
					return err
				}
				if _, err := cli(s).UpdateAccount(cmd.Context(), a.Address.Domain, a.ID, directory.AccountUpdate{DisabledServices: &next}, ""); err != nil {
					return fmt.Errorf("user %s: %w", addr, err)
				}
				e.warnDomainServices(cmd, s, a, sf.enable)
				info, err := s.Admin.Account(cmd.Context(), addr)
				if err != nil {
					return err
				}
				return e.printUsers([]userView{viewUser(info)})
			})
		},
	}
	sf.register(c, "the account")
	return c
}

// warnDomainServices tells on stderr which of the services just enabled for a stay
// refused because a's domain disables them.
func (e *env) warnDomainServices(cmd *cobra.Command, s *app.System, a directory.Account, enabled []string) {
	on, err := expandServices(enabled)
	if err != nil || len(on) == 0 {
		return
	}
	d, err := s.Dir.Domain(cmd.Context(), a.Address.Domain)
	if err != nil {
		fmt.Fprintf(e.stderr, "warning: cannot read domain %s: %v\n", a.Address.Domain, err)
		return
	}
	var still []string
	for _, svc := range d.DisabledServices {
		if slices.Contains(on, svc) {
			still = append(still, svc)
		}
	}
	if len(still) > 0 {
		fmt.Fprintf(e.stderr, "note: domain %s disables %s: the account still cannot use it\n", d.Name, strings.Join(still, ","))
	}
}

func userEnableCmd(e *env, on bool) *cobra.Command {
	use, short := "enable ADDRESS", "Enable an account (logins and deliveries)"
	if !on {
		use, short = "disable ADDRESS", "Disable an account: no logins, deliveries refused, mail kept"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.updateUser(cmd, args[0], directory.AccountUpdate{Enabled: &on})
		},
	}
}
