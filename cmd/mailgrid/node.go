package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mailgrid/internal/app"
)

// nodeCmd shows the nodes of a cluster from the node registry.
func nodeCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "node", Short: "Show the nodes of a cluster"}
	c.AddCommand(nodeListCmd(e))
	return c
}

type nodeView struct {
	Name      string            `json:"name"`
	Addresses map[string]string `json:"addresses"` // service -> listener address
	Version   string            `json:"version"`
	Started   time.Time         `json:"started"`
	LastSeen  time.Time         `json:"last_seen"`
	Down      bool              `json:"down"`
}

func viewNode(n app.NodeInfo) nodeView {
	v := nodeView{Name: n.Name, Addresses: map[string]string{}, Version: n.Version, Started: n.Started,
		LastSeen: n.LastSeen, Down: n.Down}
	for i, svc := range n.Services {
		if i < len(n.Addresses) {
			v.Addresses[svc] = n.Addresses[i]
		} else {
			v.Addresses[svc] = ""
		}
	}
	return v
}

// formatAddresses prints "svc=addr" pairs in the registered order; a service without an
// address (the queue) is its name alone.
func formatAddresses(n app.NodeInfo) string {
	parts := make([]string, len(n.Services))
	for i, svc := range n.Services {
		parts[i] = svc
		if i < len(n.Addresses) && n.Addresses[i] != "" {
			parts[i] += "=" + n.Addresses[i]
		}
	}
	return strings.Join(parts, " ")
}

func nodeListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List registered nodes: addresses, version, start, last heartbeat, down",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withCluster(cmd, func(s *app.System) error {
				nodes, err := s.NodeList(cmd.Context())
				if err != nil {
					return err
				}
				views := make([]nodeView, len(nodes))
				for i, n := range nodes {
					views[i] = viewNode(n)
				}
				now := time.Now()
				return e.print(views, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "NODE\tSTATE\tVERSION\tSTARTED\tLAST SEEN\tSERVICES")
					for i, n := range nodes {
						state := "up"
						if n.Down {
							state = "DOWN"
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s ago\t%s\n", n.Name, state, n.Version,
							n.Started.Local().Format(time.RFC3339), now.Sub(n.LastSeen).Round(time.Second), formatAddresses(nodes[i]))
					}
				})
			})
		},
	}
}
