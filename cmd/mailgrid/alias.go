package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mailgrid/internal/admin"
	"mailgrid/internal/app"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

func aliasCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "alias", Short: "Manage aliases (one-to-many, catch-all @domain)"}
	c.AddCommand(aliasAddCmd(e), aliasListCmd(e), aliasDelCmd(e))
	return c
}

type aliasView struct {
	Source  string   `json:"source"`
	Domain  string   `json:"domain"`
	Targets []string `json:"targets"`
}

func (e *env) printAliases(as []directory.Alias) error {
	views := make([]aliasView, len(as))
	for i, a := range as {
		views[i] = aliasView(a)
	}
	return e.print(views, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ALIAS\tTARGETS")
		for _, a := range views {
			fmt.Fprintf(w, "%s\t%s\n", a.Source, strings.Join(a.Targets, ", "))
		}
	})
}

func aliasAddCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "add SOURCE TARGET...",
		Short: "Add an alias; SOURCE is local@domain or @domain (catch-all)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			al, err := admin.ParseAlias(args[0], args[1:])
			if err != nil {
				return err
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				al, err := cli(s).CreateAlias(cmd.Context(), al.Domain, al.Source, al.Targets)
				if err != nil {
					return fmt.Errorf("alias %s: %w", args[0], err)
				}
				return e.printAliases([]directory.Alias{al})
			})
		},
	}
}

func aliasListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list [DOMAIN]",
		Short: "List aliases, of one domain or all",
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
				as, err := s.Dir.Aliases(cmd.Context(), domain)
				if err != nil {
					return err
				}
				return e.printAliases(as)
			})
		},
	}
}

func aliasDelCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "del SOURCE",
		Short: "Delete an alias",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			source, domain, err := admin.ParseAliasSource(args[0])
			if err != nil {
				return err
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				if err := cli(s).DeleteAlias(cmd.Context(), domain, source); err != nil {
					return fmt.Errorf("alias %s: %w", args[0], err)
				}
				fmt.Fprintf(e.stdout, "deleted %s\n", source)
				return nil
			})
		},
	}
}
