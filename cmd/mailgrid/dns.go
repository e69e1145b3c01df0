package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mailgrid/internal/admin"
	"mailgrid/internal/app"
	"mailgrid/internal/dns"
)

func dnsCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "dns", Short: "DNS records of hosted domains"}
	c.AddCommand(dnsRecordsCmd(e))
	return c
}

func dnsRecordsCmd(e *env) *cobra.Command {
	var (
		check bool
		host  string
	)
	c := &cobra.Command{
		Use:   "records DOMAIN",
		Short: "Print the records DOMAIN should publish (MX, SPF, DKIM, DMARC, autoconfig, SRV, MTA-STS, A/AAAA)",
		Long: "Print the DNS records for DOMAIN as zone file lines, the MX being this node's hostname\n" +
			"(or --host), whose A/AAAA records list the cluster's nodes round-robin (their public\n" +
			"addresses from the node registry, else cluster.public_addresses). With --check, ask the configured resolver ([dns] servers) for each and say\n" +
			"whether it is published as shown (ok), with another value (differs), or missing.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return e.withSystem(ctx, func(s *app.System) error {
				d, err := s.Dir.Domain(ctx, args[0])
				if err != nil {
					return err
				}
				h := host
				if h == "" {
					h = s.Cfg.Hostname
				}
				recs, err := admin.DNSRecords(ctx, d.Name, h, s.DKIMKeys(), s.Cfg.HTTP.MTASTSMode)
				if err != nil {
					return err
				}
				var registered []string // the live nodes' listener addresses (cluster only)
				if nodes, err := s.NodeList(ctx); err == nil {
					for _, n := range nodes {
						if !n.Down {
							registered = append(registered, n.Addresses...)
						}
					}
				} else if !errors.Is(err, app.ErrNotCluster) {
					return err
				}
				nodeRecs, err := admin.NodeRecords(h, registered, s.Cfg.Cluster.PublicAddresses)
				if err != nil {
					return err
				}
				recs = append(recs, nodeRecs...)
				if !check {
					return e.print(recs, func(w *tabwriter.Writer) {
						for _, r := range recs {
							if r.Note != "" {
								fmt.Fprintf(w, "; %s: %s\n", r.Purpose, r.Note)
							}
							fmt.Fprintln(w, r.Zone)
						}
					})
				}
				checks := admin.CheckDNS(ctx, dns.New(s.Cfg.DNS.Servers, s.Cfg.DNS.Timeout.D()), recs)
				return e.print(checks, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "STATUS\tPURPOSE\tNAME\tTYPE\tWANT\tFOUND")
					for _, c := range checks {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%v\n", c.Status, c.Purpose, c.Name, c.Type, c.Value, c.Found)
					}
				})
			})
		},
	}
	c.Flags().BoolVar(&check, "check", false, "look each record up through the resolver and compare")
	c.Flags().StringVar(&host, "host", "", "the MX host name (default: this node's hostname)")
	return c
}
