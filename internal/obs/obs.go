// Package obs holds mailgrid's observability helpers: the structured logger (log/slog)
// built from configuration, Check for errors that can only be logged (Close on a path
// that already failed, cleanup), and connection ids that tie a session's log lines together.
package obs

import (
	"crypto/rand"
	"encoding/base32"
	"io"
	"log/slog"
	"strings"
)

// NewLogger returns a logger writing to w at level ("debug", "info", "warn", "error") in
// format "text" or "json".
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Discard is a logger that drops everything (tests that do not read logs).
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Check logs err, if any, with msg and attributes. It is for errors nothing else can act
// on; every other error is returned.
func Check(log *slog.Logger, err error, msg string, args ...any) {
	if err == nil || log == nil {
		return
	}
	log.Error(msg, append(args, slog.Any("err", err))...)
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns a short random id (13 characters, lower-case base32) for connections,
// queue items and log correlation.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}
