package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mailgrid/internal/app"
)

// ssoView is a domain's SSO secret as printed.
type ssoView struct {
	Domain string `json:"domain"`
	Secret string `json:"secret,omitempty"` // "" after --remove
}

// domainSSOCmd is `domain sso-secret DOMAIN [--rotate|--set SECRET|--remove]`: print the
// domain's single sign-on secret (generated on first use), rotate it, set it or remove it
// (docs/webmail.md "Single sign-on").
func domainSSOCmd(e *env) *cobra.Command {
	var rotate, remove bool
	var set string
	c := &cobra.Command{
		Use:   "sso-secret DOMAIN",
		Short: "Print (generating on first use), rotate, set or remove a domain's single sign-on secret",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			for _, on := range []bool{rotate, remove, set != ""} {
				if on {
					n++
				}
			}
			if n > 1 {
				return fmt.Errorf("give at most one of --rotate, --set and --remove")
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				ctx, sc := cmd.Context(), cli(s)
				v := ssoView{Domain: args[0]}
				var err error
				switch {
				case remove:
					err = sc.SetSSOSecret(ctx, args[0], "")
				case set != "":
					if err = sc.SetSSOSecret(ctx, args[0], set); err == nil {
						v.Secret = set
					}
				default:
					v.Secret, err = sc.SSOSecret(ctx, args[0], rotate)
				}
				if err != nil {
					return err
				}
				return e.print(v, func(w *tabwriter.Writer) {
					if v.Secret == "" {
						fmt.Fprintf(w, "%s: no SSO secret (single sign-on links are refused)\n", v.Domain)
						return
					}
					fmt.Fprintln(w, v.Secret)
				})
			})
		},
	}
	c.Flags().BoolVar(&rotate, "rotate", false, "replace the secret with a new random one (links signed with the old one stop working)")
	c.Flags().StringVar(&set, "set", "", "use this secret (at least 32 characters), e.g. one the portal generated")
	c.Flags().BoolVar(&remove, "remove", false, "remove the secret: single sign-on is off for the domain")
	return c
}
