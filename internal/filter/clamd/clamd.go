// Package clamd is a client for ClamAV's scanning daemon, clamd, over its unix or TCP
// socket.
//
// Model. Every call is one connection and one command in clamd's null-terminated form
// ("z" prefix, man clamd "COMMANDS"): PING, VERSION, and INSTREAM, which streams the
// message as chunks, each a 4-byte big-endian length followed by that many bytes, ended
// by a zero-length chunk. clamd answers one line:
//
//	stream: OK                                   clean
//	stream: <signature name> FOUND               infected
//	INSTREAM size limit exceeded. ERROR          the stream passed clamd's StreamMaxLength
//	<anything else> ERROR                        clamd could not scan
//
// Scan returns a Result only when clamd said OK or FOUND. Every other outcome is an error
// and never "clean": callers apply their failure policy (quarantine, defer with 4xx, or
// accept and tag) to any error. Errors are *Error and match, with errors.Is, one of
//
//	ErrUnavailable  clamd could not be reached, or the connection failed or timed out
//	ErrScan         clamd answered but did not scan (an ERROR reply, an unknown reply)
//	ErrSizeLimit    the message is over the size limit (clamd's StreamMaxLength, or
//	                Config.MaxSize checked here first); it also matches ErrScan
//
// Each call is bounded by Config.Timeout and by its context. The message is streamed
// from an io.Reader in chunks (Config.ChunkSize), never held whole.
//
// Libraries: none; the protocol is a few lines over net.Conn (no maintained Go client
// exists).
package clamd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"
)

// Defaults for a zero Config field.
const (
	DefaultDialTimeout = 5 * time.Second
	DefaultTimeout     = 2 * time.Minute // clamd's own MaxScanTime default is 120 s
	DefaultChunkSize   = 64 << 10
	maxReply           = 4 << 10
)

// Config locates clamd and bounds a call.
type Config struct {
	Network     string        // "unix" (LocalSocket) or "tcp" (TCPSocket/TCPAddr)
	Address     string        // socket path, or host:port
	DialTimeout time.Duration // connecting; default DefaultDialTimeout
	Timeout     time.Duration // a whole call, connect to reply; default DefaultTimeout
	ChunkSize   int           // INSTREAM chunk size; default DefaultChunkSize
	// MaxSize, when positive, is the most bytes Scan sends: a longer message fails with
	// ErrSizeLimit as soon as it passes the mark, without streaming the rest. Set it to
	// clamd's StreamMaxLength (default 25 MiB) to fail fast; 0 leaves the check to clamd.
	MaxSize int64
	Logger  *slog.Logger // for errors nothing else can report (Close); default slog.Default()
	// Observer, when set, is told of every Scan: its latency and error (the node's filter
	// servers page; filter.Recorder implements it).
	Observer Observer
}

// Observer is told of each Scan (filter.Observer's shape; this package imports no other).
type Observer interface {
	ObserveCall(d time.Duration, err error)
}

// Client calls one clamd. It is safe for concurrent use: each call has its own
// connection.
type Client struct{ cfg Config }

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Network != "unix" && cfg.Network != "tcp" {
		return nil, fmt.Errorf("clamd: network %q: want unix or tcp", cfg.Network)
	}
	if cfg.Address == "" {
		return nil, errors.New("clamd: no address")
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Client{cfg: cfg}, nil
}

// Result is clamd's verdict on a message it scanned.
type Result struct {
	Infected bool
	Virus    string // signature name, when Infected
}

// Scan streams r to clamd (INSTREAM) and returns its verdict. Any error means the message
// was not scanned.
func (c *Client) Scan(ctx context.Context, r io.Reader) (Result, error) {
	start := time.Now()
	res, err := c.scan(ctx, r)
	if c.cfg.Observer != nil {
		c.cfg.Observer.ObserveCall(time.Since(start), err)
	}
	return res, err
}

func (c *Client) scan(ctx context.Context, r io.Reader) (Result, error) {
	const op = "INSTREAM"
	reply, err := c.call(ctx, op, func(w io.Writer) error { return c.stream(w, r) })
	if err != nil {
		return Result{}, err
	}
	return parseScanReply(reply)
}

// Ping checks that clamd answers (PING, reply PONG).
func (c *Client) Ping(ctx context.Context) error {
	reply, err := c.call(ctx, "PING", nil)
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return &Error{Kind: ErrScan, Op: "PING", Reply: reply}
	}
	return nil
}

// Version returns clamd's version line, e.g. "ClamAV 1.4.6/27500/Mon Jan 5 09:00:00 2026"
// (engine / signature database version / its date).
func (c *Client) Version(ctx context.Context) (string, error) {
	return c.call(ctx, "VERSION", nil)
}

// call runs one command on a fresh connection: it sends "z<op>\0", lets body write what
// follows, and returns the reply without its terminator.
func (c *Client) call(ctx context.Context, op string, body func(io.Writer) error) (reply string, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, c.cfg.Network, c.cfg.Address)
	if err != nil {
		return "", &Error{Kind: ErrUnavailable, Op: op, Err: err}
	}
	defer func() {
		if cerr := conn.Close(); cerr != nil {
			c.cfg.Logger.Warn("clamd: close connection", "op", op, "addr", c.cfg.Address, "err", cerr)
		}
	}()
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return "", &Error{Kind: ErrUnavailable, Op: op, Err: err}
		}
	}
	// Cancelling ctx unblocks any read or write in progress.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) }) // best effort: the conn may be closed already
	defer stop()

	werr := writeCommand(conn, op, body)
	var le *localError
	if errors.As(werr, &le) {
		return "", le.err // our side failed: clamd has nothing to say about it
	}
	reply, rerr := readReply(conn)
	switch {
	case rerr == nil:
		// Even after a failed write, a reply explains it (clamd answers "size limit
		// exceeded" and closes while we are still sending).
		return reply, nil
	case werr != nil:
		return "", c.connErr(ctx, op, werr)
	default:
		return "", c.connErr(ctx, op, rerr)
	}
}

// connErr wraps a failure on an open connection, naming a timeout or cancellation. The
// connection's deadline is the context's, and may fire a moment before the context
// notices: a deadline error is a context.DeadlineExceeded either way.
func (c *Client) connErr(ctx context.Context, op string, err error) error {
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w (%w)", err, context.DeadlineExceeded)
	}
	return &Error{Kind: ErrUnavailable, Op: op, Err: err}
}

// writeCommand writes "z<op>\0" and the command's body.
func writeCommand(conn net.Conn, op string, body func(io.Writer) error) error {
	bw := bufio.NewWriterSize(conn, 4+DefaultChunkSize)
	if _, err := bw.WriteString("z" + op + "\x00"); err != nil {
		return err
	}
	if body != nil {
		if err := body(bw); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// stream writes r as INSTREAM chunks and the terminating zero-length chunk.
func (c *Client) stream(w io.Writer, r io.Reader) error {
	buf := make([]byte, 4+c.cfg.ChunkSize)
	var sent int64
	for {
		n, err := io.ReadFull(r, buf[4:])
		if n > 0 {
			sent += int64(n)
			if c.cfg.MaxSize > 0 && sent > c.cfg.MaxSize {
				return &localError{&Error{Kind: ErrScan, Op: "INSTREAM", Err: fmt.Errorf("%w: message over %d bytes", ErrSizeLimit, c.cfg.MaxSize)}}
			}
			binary.BigEndian.PutUint32(buf[:4], uint32(n))
			if _, werr := w.Write(buf[:4+n]); werr != nil {
				return werr
			}
		}
		switch err {
		case nil:
			continue
		case io.EOF, io.ErrUnexpectedEOF:
			_, werr := w.Write([]byte{0, 0, 0, 0}) // end of stream
			return werr
		default:
			return &localError{fmt.Errorf("clamd: read message: %w", err)}
		}
	}
}

// localError marks a failure on our side of an INSTREAM (reading the message, or over
// MaxSize): the call ends at once and returns the wrapped error.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// readReply reads one null-terminated reply (at most maxReply bytes). A reply that ends
// at EOF without its terminator is accepted; no reply at all is an error.
func readReply(conn net.Conn) (string, error) {
	br := bufio.NewReader(io.LimitReader(conn, maxReply))
	s, err := br.ReadString(0)
	s = strings.TrimRight(s, "\x00\r\n ")
	if err != nil && (err != io.EOF || s == "") {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return "", fmt.Errorf("read reply: %w", err)
	}
	return s, nil
}

// parseScanReply reads an INSTREAM reply.
func parseScanReply(reply string) (Result, error) {
	const op = "INSTREAM"
	switch {
	case strings.HasSuffix(reply, " FOUND"):
		name := strings.TrimSuffix(reply, " FOUND")
		if _, after, ok := strings.Cut(name, ": "); ok {
			name = after
		}
		return Result{Infected: true, Virus: name}, nil
	case strings.HasSuffix(reply, ": OK"):
		return Result{}, nil
	case strings.Contains(reply, "size limit exceeded"):
		return Result{}, &Error{Kind: ErrScan, Op: op, Reply: reply, Err: ErrSizeLimit}
	}
	return Result{}, &Error{Kind: ErrScan, Op: op, Reply: reply}
}
