package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mailgrid/internal/app"
	"mailgrid/internal/mail"
	"mailgrid/internal/queue"
)

func queueCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "queue", Short: "Inspect and act on the outbound queue"}
	c.AddCommand(queueListCmd(e), queueShowCmd(e), queueRetryCmd(e), queueDropCmd(e))
	return c
}

type queueRcptView struct {
	Address     string    `json:"address"`
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastReply   string    `json:"last_reply,omitempty"`
	RemoteMTA   string    `json:"remote_mta,omitempty"`
}

type queueView struct {
	ID          string          `json:"id"`
	From        string          `json:"from"`
	Size        int64           `json:"size"`
	Queued      time.Time       `json:"queued"`
	NextAttempt time.Time       `json:"next_attempt,omitzero"`
	Attempts    int             `json:"attempts"`
	Recipients  []queueRcptView `json:"recipients"`
}

func viewItem(it queue.Item) queueView {
	v := queueView{ID: it.ID, From: it.Envelope.From, Size: it.Size, Queued: it.Queued,
		NextAttempt: it.NextAttempt, Attempts: it.Attempts}
	if v.From == "" {
		v.From = "<>"
	}
	for _, r := range it.Recipients {
		rv := queueRcptView{Address: r.Addr, State: string(r.State), Attempts: r.Attempts,
			LastAttempt: r.LastAttempt, RemoteMTA: r.RemoteMTA}
		if !r.LastReply.IsZero() {
			rv.LastReply = r.LastReply.String()
		}
		v.Recipients = append(v.Recipients, rv)
	}
	return v
}

func (e *env) printQueue(items []queue.Item, detail bool) error {
	views := make([]queueView, len(items))
	for i, it := range items {
		views[i] = viewItem(it)
	}
	return e.print(views, func(w *tabwriter.Writer) {
		if detail {
			for _, v := range views {
				fmt.Fprintf(w, "ID\t%s\nFROM\t%s\nSIZE\t%s\nQUEUED\t%s\nNEXT ATTEMPT\t%s\nATTEMPTS\t%d\n",
					v.ID, v.From, formatSize(v.Size, false), v.Queued.Format(time.RFC3339), fmtTime(v.NextAttempt), v.Attempts)
				for _, r := range v.Recipients {
					fmt.Fprintf(w, "RCPT\t%s\t%s\tattempts %d\t%s\n", r.Address, r.State, r.Attempts, r.LastReply)
				}
			}
			return
		}
		fmt.Fprintln(w, "ID\tFROM\tSIZE\tQUEUED\tNEXT ATTEMPT\tRECIPIENTS")
		for _, v := range views {
			var rc []string
			for _, r := range v.Recipients {
				rc = append(rc, r.Address+" ("+r.State+")")
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.From, formatSize(v.Size, false),
				v.Queued.Format(time.RFC3339), fmtTime(v.NextAttempt), strings.Join(rc, ", "))
		}
	})
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "now"
	}
	return t.Format(time.RFC3339)
}

func queueListCmd(e *env) *cobra.Command {
	var domain, from string
	c := &cobra.Command{
		Use:   "list",
		Short: "List queued messages",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := queue.Filter{From: from}
			if domain != "" {
				d, err := mail.ParseDomain(domain)
				if err != nil {
					return fmt.Errorf("domain %q: %w", domain, err)
				}
				f.RcptDomain = d
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				items, err := s.Queue.List(cmd.Context(), f)
				if err != nil {
					return err
				}
				return e.printQueue(items, false)
			})
		},
	}
	c.Flags().StringVar(&domain, "domain", "", "only messages with a recipient in this domain")
	c.Flags().StringVar(&from, "from", "", "only messages from this envelope sender (\"<>\" for bounces)")
	return c
}

func queueShowCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one queued message with every recipient's state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				it, err := s.Queue.Get(cmd.Context(), args[0])
				if err != nil {
					return fmt.Errorf("queue %s: %w", args[0], err)
				}
				return e.printQueue([]queue.Item{it}, true)
			})
		},
	}
}

func queueRetryCmd(e *env) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "retry ID... | --all",
		Short: "Make queued messages due now (the running server picks them up at its next poll)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return fmt.Errorf("give queue IDs or --all")
			}
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				ids := args
				if all {
					items, err := s.Queue.List(cmd.Context(), queue.Filter{})
					if err != nil {
						return err
					}
					for _, it := range items {
						ids = append(ids, it.ID)
					}
				}
				for _, id := range ids {
					if err := s.Queue.Retry(cmd.Context(), id); err != nil {
						return fmt.Errorf("queue %s: %w", id, err)
					}
					fmt.Fprintf(e.stdout, "retry %s\n", id)
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&all, "all", false, "every queued message")
	return c
}

func queueDropCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "drop ID...",
		Short: "Remove queued messages without a bounce",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				for _, id := range args {
					if err := s.Queue.Drop(cmd.Context(), id); err != nil {
						return fmt.Errorf("queue %s: %w", id, err)
					}
					fmt.Fprintf(e.stdout, "dropped %s\n", id)
				}
				return nil
			})
		},
	}
}
