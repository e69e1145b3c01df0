package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"mailgrid/internal/app"
)

func serveCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run every service of this node until SIGTERM/SIGINT",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := e.config()
			if err != nil {
				return err
			}
			log := e.logger(cfg)
			sys, err := app.Open(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			created, pw, err := sys.Bootstrap(cmd.Context(), os.Getenv("MAILGRID_ADMIN_PASSWORD"))
			if err != nil {
				return errors.Join(err, sys.Close())
			}
			if created {
				fmt.Fprintf(e.stdout, "First start: created the system administrator %s\n", app.AdminAddress(cfg.Hostname))
				if os.Getenv("MAILGRID_ADMIN_PASSWORD") == "" {
					fmt.Fprintf(e.stdout, "Its password (shown only this once): %s\n", pw)
				}
			}
			err = sys.Serve(cmd.Context())
			return errors.Join(err, sys.Close())
		},
	}
}
