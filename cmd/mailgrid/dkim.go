package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mailgrid/internal/app"
	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/mailauth"
)

func dkimCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "dkim", Short: "Manage the DKIM signing keys of domains"}
	c.AddCommand(dkimRotateCmd(e), dkimShowCmd(e))
	return c
}

func dkimRotateCmd(e *env) *cobra.Command {
	var algs []string
	c := &cobra.Command{
		Use:   "rotate DOMAIN",
		Short: "Create new signing keys for DOMAIN; the previous keys stay published for a grace period",
		Long: "Create one new key per algorithm and sign with them from now on. The previous keys\n" +
			"stop signing but their records should stay in the DNS for the grace period (7 days).\n" +
			"Publish the printed TXT records before mail goes out: until then it fails DKIM.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []mailauth.DKIMAlgorithm
			for _, a := range algs {
				switch alg := mailauth.DKIMAlgorithm(strings.ToLower(a)); alg {
				case mailauth.DKIMEd25519, mailauth.DKIMRSA:
					list = append(list, alg)
				default:
					return fmt.Errorf("unknown algorithm %q (ed25519 or rsa)", a)
				}
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				// A key for a domain we do not host is a typo: refuse it.
				d, err := s.Dir.Domain(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				keys := s.DKIMKeys()
				if _, err := keys.Rotate(cmd.Context(), d.Name, list...); err != nil {
					return err
				}
				recs, err := keys.Records(cmd.Context(), d.Name)
				if err != nil {
					return err
				}
				return e.printDKIM(recs)
			})
		},
	}
	c.Flags().StringSliceVar(&algs, "algorithm", []string{"ed25519", "rsa"}, "key types: ed25519, rsa (RSA-2048), or both")
	return c
}

func dkimShowCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show DOMAIN",
		Short: "Print the DKIM TXT records to publish for DOMAIN (zone file form, or --json)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				recs, err := s.DKIMKeys().Records(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if len(recs) == 0 && !e.json {
					return fmt.Errorf("%s has no DKIM keys (mailgrid dkim rotate %s)", args[0], args[0])
				}
				return e.printDKIM(recs)
			})
		},
	}
}

// printDKIM prints records as zone file lines, each after a comment saying whether it
// signs or until when it must stay published; JSON with --json.
func (e *env) printDKIM(recs []dkimkeys.Record) error {
	if recs == nil {
		recs = []dkimkeys.Record{}
	}
	return e.print(recs, func(w *tabwriter.Writer) {
		for _, r := range recs {
			state := "active, signs"
			if r.Until != nil {
				state = "retired, keep published until " + r.Until.UTC().Format("2006-01-02 15:04 MST")
			}
			fmt.Fprintf(w, "; %s %s (%s)\n%s\n", r.Selector, r.Algorithm, state, r.Zone)
		}
	})
}
