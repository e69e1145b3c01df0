package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mailgrid/internal/app"
)

// shardCmd manages the store shards of a cluster. Shards live in the directory's shard
// registry, never in node files; running nodes open a new shard on first use and follow
// a changed DSN at their next heartbeat.
func shardCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "shard", Short: "Manage the store shards of a cluster"}
	c.AddCommand(shardAddCmd(e), shardListCmd(e), shardSetCmd(e), shardFailoverCmd(e))
	return c
}

type shardView struct {
	Name     string    `json:"name"`
	DSN      string    `json:"dsn"` // password hidden
	State    string    `json:"state"`
	Capacity int64     `json:"capacity"` // 0 = unlimited
	Users    int64     `json:"users"`
	Bytes    int64     `json:"bytes"` // -1 = unknown
	Health   string    `json:"health,omitempty"`
	Created  time.Time `json:"created,omitzero"`
}

func (e *env) printShards(shards []app.ShardInfo) error {
	views := make([]shardView, len(shards))
	for i, s := range shards {
		views[i] = shardView(s)
	}
	return e.print(views, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "SHARD\tSTATE\tUSERS\tCAPACITY\tSIZE\tHEALTH\tDSN")
		for _, v := range views {
			capacity, size, health := "unlimited", "-", v.Health
			if v.Capacity > 0 {
				capacity = fmt.Sprint(v.Capacity)
			}
			if v.Bytes >= 0 {
				size = formatSize(v.Bytes, false)
			}
			if health == "" {
				health = "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", v.Name, v.State, v.Users, capacity, size, health, v.DSN)
		}
	})
}

// withCluster is withSystem for commands that exist only in the cluster shape: on an
// embedded node they fail at once, before touching the data directory.
func (e *env) withCluster(cmd *cobra.Command, fn func(*app.System) error) error {
	cfg, err := e.config()
	if err != nil {
		return err
	}
	if !cfg.Clustered() {
		return app.ErrNotCluster
	}
	return e.withSystem(cmd.Context(), fn)
}

func shardAddCmd(e *env) *cobra.Command {
	var dsn string
	var capacity int64
	c := &cobra.Command{
		Use:   "add NAME --dsn DSN [--capacity N]",
		Short: "Register a shard database (checked: it must connect and take the store schema)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dsn == "" {
				return errors.New("--dsn is required")
			}
			if capacity < 0 {
				return errors.New("--capacity must be >= 0")
			}
			return e.withCluster(cmd, func(s *app.System) error {
				sh, err := s.AddShard(cmd.Context(), args[0], dsn, capacity)
				if err != nil {
					return fmt.Errorf("shard %s: %w", args[0], err)
				}
				return e.printShards([]app.ShardInfo{sh})
			})
		},
	}
	c.Flags().StringVar(&dsn, "dsn", "", "PostgreSQL DSN of the shard database (postgres://user@host:5432/db)")
	c.Flags().Int64Var(&capacity, "capacity", 0, "accounts placement may put on the shard; 0 = unlimited")
	return c
}

func shardListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List shards with their users, size and health (embedded: the one local shard)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSystem(cmd.Context(), func(s *app.System) error {
				shards, err := s.ShardList(cmd.Context())
				if err != nil {
					return err
				}
				return e.printShards(shards)
			})
		},
	}
}

// shardSetFlags are the flags of shard set (and failover's --dsn).
type shardSetFlags struct {
	dsn, state string
	capacity   int64
}

// change turns the flags given on the command line into a ShardChange.
func (f *shardSetFlags) change(cmd *cobra.Command) (app.ShardChange, error) {
	var ch app.ShardChange
	fl := cmd.Flags()
	if fl.Changed("dsn") {
		if f.dsn == "" {
			return ch, errors.New("--dsn must not be empty")
		}
		ch.DSN = &f.dsn
	}
	if fl.Changed("capacity") {
		if f.capacity < 0 {
			return ch, errors.New("--capacity must be >= 0")
		}
		ch.Capacity = &f.capacity
	}
	if fl.Changed("state") {
		ch.State = &f.state
	}
	if ch.DSN == nil && ch.Capacity == nil && ch.State == nil {
		return ch, errors.New("nothing to change: give --dsn, --capacity or --state")
	}
	return ch, nil
}

func (e *env) setShard(cmd *cobra.Command, name string, ch app.ShardChange) error {
	return e.withCluster(cmd, func(s *app.System) error {
		sh, err := s.UpdateShard(cmd.Context(), name, ch)
		if err != nil {
			return fmt.Errorf("shard %s: %w", name, err)
		}
		if err := e.printShards([]app.ShardInfo{sh}); err != nil {
			return err
		}
		if ch.DSN != nil && !e.json {
			fmt.Fprintf(e.stderr, "running nodes switch to the new DSN within cluster.heartbeat (%s)\n", s.Cfg.Cluster.Heartbeat.D())
		}
		return nil
	})
}

func shardSetCmd(e *env) *cobra.Command {
	var f shardSetFlags
	c := &cobra.Command{
		Use:   "set NAME [--dsn DSN] [--capacity N] [--state active|draining|offline]",
		Short: "Change a shard: its DSN (failover), capacity or state",
		Long: `Change a shard. A new DSN is checked (connect and store schema) before it is saved;
running nodes reopen the shard on it at their next heartbeat. States: active (takes new
accounts), draining (serves its accounts, takes no new ones), offline (not served:
deliveries for its accounts get 4xx and are retried by the sender).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ch, err := f.change(cmd)
			if err != nil {
				return err
			}
			return e.setShard(cmd, args[0], ch)
		},
	}
	c.Flags().StringVar(&f.dsn, "dsn", "", "new PostgreSQL DSN of the shard database")
	c.Flags().Int64Var(&f.capacity, "capacity", 0, "accounts placement may put on the shard; 0 = unlimited")
	c.Flags().StringVar(&f.state, "state", "", "active, draining or offline")
	return c
}

func shardFailoverCmd(e *env) *cobra.Command {
	var f shardSetFlags
	c := &cobra.Command{
		Use:   "failover NAME --dsn DSN",
		Short: "Point a shard at its promoted standby (shard set NAME --dsn DSN)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("dsn") {
				return errors.New("--dsn is required: the DSN of the promoted standby")
			}
			ch, err := f.change(cmd)
			if err != nil {
				return err
			}
			return e.setShard(cmd, args[0], ch)
		},
	}
	c.Flags().StringVar(&f.dsn, "dsn", "", "PostgreSQL DSN of the promoted standby")
	return c
}
