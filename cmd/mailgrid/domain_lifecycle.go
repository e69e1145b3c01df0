package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mailgrid/internal/app"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// The domain lifecycle commands: del (with grace), restore, purge, admins (transfer) and
// alias (alias domains). The rules are admin.Scoped's (internal/admin/domains_lifecycle.go).

func domainDelCmd(e *env) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "del DOMAIN",
		Short: "Delete a domain: disabled at once, restorable until its purge (refused while it has accounts or aliases, unless --force)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				if err := cli(s).DeleteDomain(cmd.Context(), args[0], force); err != nil {
					return fmt.Errorf("domain %s: %w", args[0], err)
				}
				d, err := s.Dir.Domain(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "deleted %s: restorable until %s (mailgrid domain restore %s), then purged\n",
					d.Name, d.PurgeAt.Format(time.RFC3339), d.Name)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&force, "force", false, "also when it has accounts and aliases (they and their mail are purged with it)")
	return c
}

func domainRestoreCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "restore DOMAIN",
		Short: "Restore a deleted domain, as it was, before its purge",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				d, err := cli(s).RestoreDomain(cmd.Context(), args[0])
				if err != nil {
					return fmt.Errorf("domain %s: %w", args[0], err)
				}
				accts, err := s.Dir.Accounts(cmd.Context(), d.Name)
				if err != nil {
					return err
				}
				return e.printDomains([]domainView{viewDomain(d, len(accts))})
			})
		},
	}
}

func domainPurgeCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "purge DOMAIN",
		Short: "Purge a deleted domain now (its accounts, their mail, its aliases), without waiting for the grace period",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := mail.ParseDomain(args[0])
			if err != nil {
				return fmt.Errorf("domain %q: %w", args[0], err)
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				if err := cli(s).PurgeDomain(cmd.Context(), name); err != nil {
					return fmt.Errorf("domain %s: %w", name, err)
				}
				fmt.Fprintf(e.stdout, "purged %s\n", name)
				return nil
			})
		},
	}
}

// adminView is one administrator of a domain as printed.
type adminView struct {
	Address      string   `json:"address"`
	AdminDomains []string `json:"admin_domains"`
}

func domainAdminsCmd(e *env) *cobra.Command {
	var set []string
	var none bool
	c := &cobra.Command{
		Use:   "admins DOMAIN",
		Short: "Show the domain admins of a domain, or transfer it (--set replaces them; removed admins lose access at once)",
		Example: "  mailgrid domain admins example.com\n" +
			"  mailgrid domain admins example.com --set boss@example.com,agency@partner.example\n" +
			"  mailgrid domain admins example.com --none",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(set) > 0 && none {
				return errors.New("give --set or --none, not both")
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				var as []directory.Account
				var err error
				if len(set) > 0 || none {
					as, err = cli(s).SetDomainAdmins(cmd.Context(), args[0], set)
				} else {
					as, err = cli(s).DomainAdmins(cmd.Context(), args[0])
				}
				if err != nil {
					return fmt.Errorf("domain %s: %w", args[0], err)
				}
				views := make([]adminView, 0, len(as))
				for _, a := range as {
					views = append(views, adminView{Address: a.Address.String(), AdminDomains: append([]string{}, a.AdminDomains...)})
				}
				return e.print(views, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "ADMIN\tADMINISTERS")
					for _, v := range views {
						fmt.Fprintf(w, "%s\t%s\n", v.Address, formatServices(v.AdminDomains))
					}
				})
			})
		},
	}
	c.Flags().StringSliceVar(&set, "set", nil, "the domain's admins from now on (addresses; users become domain admins)")
	c.Flags().BoolVar(&none, "none", false, "remove every domain admin (system admins still manage it)")
	return c
}

// aliasDomainView is an alias domain as printed.
type aliasDomainView struct {
	Name      string    `json:"name"`
	Target    string    `json:"target"`
	CreatedAt time.Time `json:"created_at"`
}

func domainAliasCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "alias", Short: "Alias domains: every address of ALIAS delivers to the same local part at the target"}
	var to string
	add := &cobra.Command{
		Use:     "add ALIAS --to DOMAIN",
		Short:   "Make ALIAS an alias domain of DOMAIN (x@ALIAS delivers like x@DOMAIN; logins stay x@DOMAIN)",
		Example: "  mailgrid domain alias add example.org --to example.com",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return errors.New("--to DOMAIN is required")
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				a, err := cli(s).CreateDomainAlias(cmd.Context(), to, args[0])
				if err != nil {
					return fmt.Errorf("alias domain %s: %w", args[0], err)
				}
				return e.printAliasDomains([]directory.DomainAlias{a})
			})
		},
	}
	add.Flags().StringVar(&to, "to", "", "the domain the alias delivers to")
	list := &cobra.Command{
		Use:   "list [DOMAIN]",
		Short: "List alias domains (of DOMAIN, or all)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				as, err := cli(s).DomainAliases(cmd.Context(), target)
				if err != nil {
					return err
				}
				return e.printAliasDomains(as)
			})
		},
	}
	del := &cobra.Command{
		Use:   "del ALIAS",
		Short: "Remove an alias domain (mail for it is then refused)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := mail.ParseDomain(args[0])
			if err != nil {
				return fmt.Errorf("alias domain %q: %w", args[0], err)
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				as, err := cli(s).DomainAliases(cmd.Context(), "")
				if err != nil {
					return err
				}
				for _, a := range as {
					if a.Name == name {
						if err := cli(s).DeleteDomainAlias(cmd.Context(), a.Target, name); err != nil {
							return err
						}
						fmt.Fprintf(e.stdout, "deleted alias domain %s\n", name)
						return nil
					}
				}
				return fmt.Errorf("alias domain %s: %w", name, directory.ErrNotFound)
			})
		},
	}
	c.AddCommand(add, list, del)
	return c
}

func (e *env) printAliasDomains(as []directory.DomainAlias) error {
	views := make([]aliasDomainView, 0, len(as))
	for _, a := range as {
		views = append(views, aliasDomainView{Name: a.Name, Target: a.Target, CreatedAt: a.CreatedAt})
	}
	return e.print(views, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ALIAS DOMAIN\tDELIVERS TO")
		for _, v := range views {
			fmt.Fprintf(w, "%s\t%s\n", v.Name, v.Target)
		}
	})
}
