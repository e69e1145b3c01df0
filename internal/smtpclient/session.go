package smtpclient

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/emersion/go-smtp"

	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

// txn is the transaction Deliver was asked for.
type txn struct {
	env   queue.Envelope
	rcpts []queue.Recipient
	body  store.Body
	sts   *Policy // the destination's MTA-STS policy; nil = none
}

// requireTLS reports whether the session must use verified TLS (RFC 8461 4.2).
func (tx *txn) requireTLS() bool { return tx.sts != nil && tx.sts.Mode == "enforce" }

// session delivers tx over one connection to ip (host is the MX name).
func (c *Client) session(ctx context.Context, host string, ip net.IP, tx *txn, tryTLS bool) ([]queue.RecipientResult, error) {
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(c.opt.Port))
	log := c.log.With(slog.String("host", host), slog.String("addr", addr))
	dctx, cancel := context.WithTimeout(ctx, c.opt.ConnectTimeout)
	raw, err := c.opt.Dial(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return nil, &nextHostError{tempErr("4.4.1", "connect to "+host+"["+ip.String()+"]", err)}
	}
	// Cancelling ctx aborts the session wherever it is.
	stop := context.AfterFunc(ctx, func() { c.closeConn(raw, log) })
	defer func() {
		if stop() {
			c.closeConn(raw, log)
		}
	}()
	p, err := c.prelude(ctx, raw, host, tryTLS)
	if err != nil {
		return nil, err
	}
	log = log.With(slog.Bool("tls", p.tls), slog.Bool("tls_verified", p.verified))
	if err := c.checkSTS(tx, host, p, log); err != nil {
		return nil, err
	}
	sc := smtp.NewClient(p.conn)
	sc.CommandTimeout = c.opt.CommandTimeout
	sc.SubmissionTimeout = c.opt.DataTermTimeout
	if err := sc.Hello(c.opt.Hostname); err != nil {
		return nil, nextHost(sessionErr(host, "EHLO", err))
	}
	res, err := c.transaction(sc, raw, host, tx, log)
	if err == nil {
		if qerr := sc.Quit(); qerr != nil {
			log.Debug("QUIT", slog.Any("err", qerr)) // the outcome is already decided
		}
	}
	return res, err
}

func (c *Client) closeConn(conn net.Conn, log *slog.Logger) {
	if err := conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Debug("close connection", slog.Any("err", err))
	}
}

// transaction runs MAIL, RCPT and DATA. It returns per-recipient results once MAIL FROM
// was accepted, else an error (a *nextHostError when another address may do better).
func (c *Client) transaction(sc *smtp.Client, raw net.Conn, host string, tx *txn, log *slog.Logger) ([]queue.RecipientResult, error) {
	utf8 := needsUTF8(tx)
	if err := c.checkExtensions(sc, host, tx, utf8); err != nil {
		return nil, err
	}
	dsn, _ := sc.Extension("DSN") // RFC 3461: the next hop takes NOTIFY/ORCPT
	if err := sc.Mail(tx.env.From, mailOptions(tx, utf8)); err != nil {
		de := sessionErr(host, "MAIL FROM", err)
		if de.Temporary {
			return nil, nextHost(de) // RFC 5321 5.1: try a less preferred MX
		}
		return nil, de
	}
	results := make([]queue.RecipientResult, len(tx.rcpts))
	var accepted []int
	for i, r := range tx.rcpts {
		err := sc.Rcpt(r.Addr, rcptOptions(r))
		if err == nil {
			accepted = append(accepted, i)
			continue
		}
		de := sessionErr(host, "RCPT TO", err)
		results[i] = resultOf(de, dsn)
		if !isReply(err) { // connection lost: the rest can only fail the same way
			fill(results, de, dsn)
			return results, nil
		}
	}
	if len(accepted) == 0 {
		if err := sc.Reset(); err != nil {
			log.Debug("RSET", slog.Any("err", err))
		}
		return results, nil
	}
	// RFC 5321 3.3: the reply to DATA (or its failure) applies to every accepted recipient.
	res := c.data(sc, raw, host, tx.body)
	res.NextHopDSN = dsn
	for _, i := range accepted {
		results[i] = res
	}
	log.Info("transaction", slog.String("from", tx.env.From), slog.Int("rcpts", len(tx.rcpts)),
		slog.Int("accepted", len(accepted)), slog.String("reply", res.Reply.String()))
	return results, nil
}

// data sends the body and returns the reply to the final dot (or the failure).
func (c *Client) data(sc *smtp.Client, raw net.Conn, host string, body store.Body) queue.RecipientResult {
	sc.CommandTimeout = c.opt.DataInitTimeout // RFC 5321 4.5.3.2.2
	w, err := sc.Data()
	sc.CommandTimeout = c.opt.CommandTimeout
	if err != nil {
		return resultOf(sessionErr(host, "DATA", err), false)
	}
	// RFC 5321 4.5.3.2.3: each block of data must be written within the timeout.
	dw := &deadlineWriter{w: w, conn: raw, timeout: c.opt.DataBlockTimeout}
	if _, err := io.Copy(dw, io.NewSectionReader(body, 0, body.Size())); err != nil {
		return resultOf(sessionErr(host, "message data", err), false)
	}
	resp, err := w.CloseWithResponse() // RFC 5321 4.5.3.2.6: SubmissionTimeout
	if err != nil {
		return resultOf(sessionErr(host, "end of data", err), false)
	}
	enh, text := splitEnhanced(resp.StatusText)
	return queue.RecipientResult{Reply: queue.Reply{Code: 250, Enhanced: enh, Text: text}, RemoteMTA: host}
}

// fill gives every recipient without a result yet (accepted or not tried) de.
func fill(results []queue.RecipientResult, de *queue.DeliveryError, dsn bool) {
	for i := range results {
		if results[i].Reply.IsZero() {
			results[i] = resultOf(de, dsn)
		}
	}
}

func resultOf(de *queue.DeliveryError, dsn bool) queue.RecipientResult {
	return queue.RecipientResult{Reply: de.Reply, Temporary: de.Temporary, RemoteMTA: de.RemoteMTA, NextHopDSN: dsn}
}

// deadlineWriter renews the connection's write deadline before every write.
type deadlineWriter struct {
	w       io.Writer
	conn    net.Conn
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if err := d.conn.SetWriteDeadline(time.Now().Add(d.timeout)); err != nil {
		return 0, err
	}
	return d.w.Write(p)
}
