package main

// User migration between shards (package cluster): `user move`, `user copy`,
// `shard drain`, `migration list` and `migration cancel`. They run in this process: the
// move is over when the command returns. Killed midway, the same command resumes it.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mailgrid/internal/app"
	"mailgrid/internal/cluster"
	"mailgrid/internal/directory"
)

// addMigrationCmds adds the migration commands to root's user and shard commands and
// root itself.
func addMigrationCmds(e *env, root *cobra.Command) {
	for _, c := range root.Commands() {
		switch c.Name() {
		case "user":
			c.AddCommand(userMigrateCmd(e, directory.MigrationMove), userMigrateCmd(e, directory.MigrationCopy))
		case "shard":
			c.AddCommand(shardDrainCmd(e))
		}
	}
	m := &cobra.Command{Use: "migration", Short: "Show and cancel user migrations between shards"}
	m.AddCommand(migrationListCmd(e), migrationCancelCmd(e))
	root.AddCommand(m)
}

// engine builds the migration engine over a cluster system.
func (e *env) engine(cmd *cobra.Command, s *app.System) (*cluster.Engine, error) {
	j, ok := s.Dir.(directory.MigrationJournal)
	if !ok {
		return nil, app.ErrNotCluster
	}
	host, _ := os.Hostname()
	eng := &cluster.Engine{Dir: s.Dir, Journal: j, Shards: s.Shards, Log: s.Log,
		Owner: fmt.Sprintf("%s:%d", host, os.Getpid())}
	if !e.json {
		eng.Progress = func(m directory.Migration) {
			fmt.Fprintf(cmd.OutOrStdout(), "migration %d %s: %s %s -> %s: %s/%s, round %d, %d messages (%s) copied\n",
				m.ID, m.Kind, m.Address, m.Source, m.Target, m.State, m.Phase, m.Rounds, m.Messages, formatSize(m.Bytes, false))
		}
	}
	return eng, nil
}

func userMigrateCmd(e *env, kind directory.MigrationKind) *cobra.Command {
	var to string
	short := "Move an account's mail to another shard while the user keeps working"
	if kind == directory.MigrationCopy {
		short = "Copy an account's mail to another shard (placement and source unchanged)"
	}
	c := &cobra.Command{
		Use:   string(kind) + " ADDRESS --to SHARD",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return errors.New("--to is required")
			}
			addr, err := parseAddr(args[0])
			if err != nil {
				return err
			}
			return e.withCluster(cmd, func(s *app.System) error {
				eng, err := e.engine(cmd, s)
				if err != nil {
					return err
				}
				run := eng.Move
				if kind == directory.MigrationCopy {
					run = eng.Copy
				}
				start := time.Now()
				m, err := run(cmd.Context(), addr, to)
				if err != nil {
					if m.ID != 0 {
						return fmt.Errorf("migration %d: %w (run the command again to resume)", m.ID, err)
					}
					return err
				}
				return e.printMigrations([]directory.Migration{m}, time.Since(start))
			})
		},
	}
	c.Flags().StringVar(&to, "to", "", "target shard")
	return c
}

func shardDrainCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "drain SHARD",
		Short: "Stop placing accounts on a shard and move every account off it (resumable)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			from := args[0]
			return e.withCluster(cmd, func(s *app.System) error {
				draining := "draining"
				if _, err := s.UpdateShard(cmd.Context(), from, app.ShardChange{State: &draining}); err != nil {
					return err
				}
				eng, err := e.engine(cmd, s)
				if err != nil {
					return err
				}
				place, err := drainPlacer(cmd.Context(), s, from)
				if err != nil {
					return err
				}
				var done []directory.Migration
				n, err := eng.Drain(cmd.Context(), from, place, func(m directory.Migration) { done = append(done, m) })
				if perr := e.printMigrations(done, 0); err == nil {
					err = perr
				}
				if err != nil {
					return fmt.Errorf("drain %s: %d moved, stopped: %w (run the command again to continue)", from, n, err)
				}
				if !e.json {
					fmt.Fprintf(cmd.OutOrStdout(), "shard %s drained: %d accounts moved\n", from, n)
				}
				return nil
			})
		},
	}
}

// drainPlacer places each account on the active shard (not from) with the most free
// capacity, counting the accounts it has placed itself.
func drainPlacer(ctx context.Context, s *app.System, from string) (cluster.Placer, error) {
	shards, err := s.ShardList(ctx)
	if err != nil {
		return nil, err
	}
	users := map[string]int64{}
	var cands []app.ShardInfo
	for _, sh := range shards {
		if sh.Name != from && sh.State == "active" && sh.Health == "ok" {
			cands = append(cands, sh)
			users[sh.Name] = sh.Users
		}
	}
	return func(ctx context.Context, a directory.Account) (string, error) {
		best, bestFree := "", int64(0)
		for _, c := range cands {
			free := int64(math.MaxInt64)
			if c.Capacity > 0 {
				free = c.Capacity - users[c.Name]
			}
			if free > bestFree {
				best, bestFree = c.Name, free
			}
		}
		if best == "" {
			return "", fmt.Errorf("%w: no healthy active shard with free capacity to move %s to", directory.ErrLimit, a.Address)
		}
		users[best]++
		return best, nil
	}, nil
}

func migrationListCmd(e *env) *cobra.Command {
	var unfinished bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List user migrations, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withCluster(cmd, func(s *app.System) error {
				j, ok := s.Dir.(directory.MigrationJournal)
				if !ok {
					return app.ErrNotCluster
				}
				ms, err := j.Migrations(cmd.Context(), unfinished)
				if err != nil {
					return err
				}
				return e.printMigrations(ms, 0)
			})
		},
	}
	c.Flags().BoolVar(&unfinished, "unfinished", false, "only running and failed ones")
	return c
}

func migrationCancelCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ADDRESS",
		Short: "Abandon an account's unfinished migration that has not switched placement (removes the target's partial copy)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := parseAddr(args[0])
			if err != nil {
				return err
			}
			return e.withCluster(cmd, func(s *app.System) error {
				eng, err := e.engine(cmd, s)
				if err != nil {
					return err
				}
				m, err := eng.Cancel(cmd.Context(), addr)
				if err != nil {
					return err
				}
				return e.printMigrations([]directory.Migration{m}, 0)
			})
		},
	}
}

type migrationView struct {
	ID       int64     `json:"id"`
	Account  string    `json:"account"`
	Kind     string    `json:"kind"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	State    string    `json:"state"`
	Phase    string    `json:"phase"`
	Rounds   int       `json:"rounds"`
	Messages int64     `json:"messages"`
	Bytes    int64     `json:"bytes"`
	FenceMS  int64     `json:"fence_ms"`
	Seconds  float64   `json:"seconds,omitempty"` // this run's duration, when it just ran
	Error    string    `json:"error,omitempty"`
	Owner    string    `json:"owner"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
}

func (e *env) printMigrations(ms []directory.Migration, took time.Duration) error {
	views := make([]migrationView, len(ms))
	for i, m := range ms {
		views[i] = migrationView{ID: m.ID, Account: m.Address, Kind: string(m.Kind), From: m.Source, To: m.Target,
			State: string(m.State), Phase: m.Phase, Rounds: m.Rounds, Messages: m.Messages, Bytes: m.Bytes,
			FenceMS: m.FenceMS, Seconds: took.Seconds(), Error: m.Error, Owner: m.Owner, Started: m.Started, Updated: m.Updated}
	}
	return e.print(views, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tACCOUNT\tKIND\tFROM\tTO\tSTATE\tPHASE\tROUNDS\tMESSAGES\tSIZE\tFENCE\tUPDATED\tERROR")
		for _, v := range views {
			fence := "-"
			if v.FenceMS > 0 {
				fence = fmt.Sprintf("%dms", v.FenceMS)
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", v.ID, v.Account, v.Kind, v.From, v.To,
				v.State, v.Phase, v.Rounds, v.Messages, formatSize(v.Bytes, false), fence,
				v.Updated.Local().Format(time.DateTime), v.Error)
		}
	})
}
