package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"mailgrid/internal/admin"
	"mailgrid/internal/app"
	"mailgrid/internal/config"
	"mailgrid/internal/obs"
)

// config loads the configuration named by the flags.
func (e *env) config() (config.Config, error) {
	cfg, err := config.Load(e.configFile)
	if err != nil {
		return cfg, err
	}
	if e.dataDir != "" {
		cfg.Data = e.dataDir
	}
	return cfg, nil
}

// logger writes to stderr at the configured level.
func (e *env) logger(cfg config.Config) *slog.Logger {
	return obs.NewLogger(e.stderr, cfg.Log.Level, cfg.Log.Format)
}

// cli is the service layer as the local operator: authorised as a system admin, every
// change recorded in the audit log with via "cli", like the console's and the API's.
func cli(s *app.System) *admin.Scoped { return s.Admin.As(admin.SystemActor("cli")) }

// withSystem opens the installation, runs fn and closes it.
func (e *env) withSystem(ctx context.Context, fn func(*app.System) error) error {
	cfg, err := e.config()
	if err != nil {
		return err
	}
	// Administration commands log only warnings: their output is the result.
	log := obs.NewLogger(e.stderr, "warn", cfg.Log.Format)
	sys, err := app.Open(ctx, cfg, log, app.Administration())
	if err != nil {
		return err
	}
	err = fn(sys)
	return errors.Join(err, sys.Close())
}

// print writes v as JSON with --json, else calls table.
func (e *env) print(v any, table func(w *tabwriter.Writer)) error {
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

// readPassword reads one line from stdin (--password-stdin), or prompts twice on a terminal.
func (e *env) readPassword(fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", fmt.Errorf("reading password from stdin: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("empty password on stdin")
		}
		return pw, nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no terminal to prompt for a password: use --password-stdin")
	}
	fmt.Fprint(e.stderr, "Password: ")
	a, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(e.stderr, "Again: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", err
	}
	if string(a) != string(b) {
		return "", errors.New("passwords do not match")
	}
	if len(a) == 0 {
		return "", errors.New("empty password")
	}
	return string(a), nil
}

// parseSize reads a byte count: 1234, 10K, 50M, 2G (binary units); "0" or "unlimited" is 0.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "unlimited" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	case "T":
		mult = 1 << 40
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional K, M, G or T suffix", s)
	}
	return n * mult, nil
}

// formatSize prints a byte count for humans; 0 is "unlimited" when zeroUnlimited.
func formatSize(n int64, zeroUnlimited bool) string {
	if n == 0 && zeroUnlimited {
		return "unlimited"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
