// Command mailgrid runs and administers a mailgrid installation.
//
//	mailgrid serve                      run every service (embedded default: data in ./data)
//	mailgrid domain|user|alias|queue|dkim …  administration, against a running server or offline
//
// Every subcommand finds the installation from --config FILE or --data DIR (environment
// MAILGRID_CONFIG, MAILGRID_DATA). Administration opens the same storage as the server
// (SQLite allows several processes), so it works whether or not the server is running.
// Output is a table, or JSON with --json. Errors are one line on stderr and exit status 1.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mailgrid:", err)
		stop()
		os.Exit(1)
	}
}

// env is what every command shares: global flags and the standard streams.
type env struct {
	configFile string
	dataDir    string
	json       bool
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "mailgrid",
		Short:         "mailgrid: a distributed, multi-tenant mail system in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&e.configFile, "config", os.Getenv("MAILGRID_CONFIG"), "configuration file (env MAILGRID_CONFIG)")
	pf.StringVar(&e.dataDir, "data", os.Getenv("MAILGRID_DATA"), "data directory, overrides the file's `data` (env MAILGRID_DATA)")
	pf.BoolVar(&e.json, "json", false, "print JSON instead of a table")
	root.AddCommand(serveCmd(e), domainCmd(e), userCmd(e), aliasCmd(e), queueCmd(e), shardCmd(e), nodeCmd(e), dkimCmd(e), auditCmd(e), planCmd(e), dnsCmd(e), blockCmd(e), ruleCmd(e), quarantineCmd(e))
	addMigrationCmds(e, root)
	return root
}
