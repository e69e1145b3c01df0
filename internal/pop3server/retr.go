package pop3server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"mailgrid/internal/store"
)

// copyBufSize is the read size from the blob store for RETR and TOP.
const copyBufSize = 32 << 10

// cmdRetr sends a whole message (RFC 1939 5).
func (s *session) cmdRetr(args string) error {
	f, err := fields(args, 1, 1)
	if err != nil {
		return err
	}
	_, e, err := s.drop.get(f[0])
	if err != nil {
		return err
	}
	if err := s.sendMessage(e, -1); err != nil {
		return err
	}
	e.retrieved = true
	return nil
}

// cmdTop sends the header, the blank line and the first n body lines (RFC 1939 7).
func (s *session) cmdTop(args string) error {
	f, err := fields(args, 2, 2)
	if err != nil {
		return err
	}
	_, e, err := s.drop.get(f[0])
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 || f[1][0] < '0' || f[1][0] > '9' {
		return badCommand("Invalid number of lines")
	}
	return s.sendMessage(e, n)
}

// sendMessage streams a message from the blob store as a multi-line reply. bodyLines < 0
// sends it whole. Once "+OK" is out, a store fault can no longer become a -ERR: the
// session ends instead (the client sees an unterminated reply, not a truncated message).
func (s *session) sendMessage(e *entry, bodyLines int) error {
	blob, err := s.st.OpenBlob(s.ctx, s.ref, e.id)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Text: "Message was removed by another session"}
	}
	if err != nil {
		s.log.Error("open message", "uid", e.uid, "err", err)
		return errTemp
	}
	defer func() {
		if err := blob.Close(); err != nil {
			s.log.Warn("close message", "uid", e.uid, "err", err)
		}
	}()
	head := "+OK message follows"
	if bodyLines < 0 {
		head = "+OK " + strconv.FormatInt(e.size, 10) + " octets"
	}
	if err := s.c.reply(head); err != nil {
		return err
	}
	if s.buf == nil {
		s.buf = make([]byte, copyBufSize)
	}
	dw := &dotWriter{w: s.c.w, bol: true, body: bodyLines, header: bodyLines >= 0}
	_, err = io.CopyBuffer(dw, io.NewSectionReader(blob, 0, blob.Size()), s.buf)
	if err != nil && !errors.Is(err, errTopDone) {
		return fmt.Errorf("sending message uid %d: %w", e.uid, err)
	}
	return dw.finish()
}

// errTopDone stops the copy once TOP has sent its lines.
var errTopDone = errors.New("top: line count reached")

// dotWriter writes a message as the body of a multi-line reply (RFC 1939 3): a line that
// starts with "." gets another "." in front, every line ends in CRLF (a bare LF becomes
// CRLF), and finish adds the terminating ".". For TOP it counts lines: the header up to
// and including the first empty line, then body lines until body reaches 0.
type dotWriter struct {
	w       *bufio.Writer
	bol     bool // at the start of a line
	cr      bool // the last byte of the current line so far is CR
	lineLen int  // octets of the current line so far (a CR included)
	body    int  // body lines still to send; < 0: no limit (RETR)
	header  bool // TOP: still in the header
}

func (d *dotWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if d.bol {
			if !d.header && d.body == 0 {
				return total - len(p), errTopDone
			}
			if p[0] == '.' { // RFC 1939 3: byte-stuff the termination octet
				if err := d.w.WriteByte('.'); err != nil {
					return total - len(p), err
				}
			}
			d.bol = false
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if _, err := d.w.Write(p); err != nil {
				return total - len(p), err
			}
			d.lineLen += len(p)
			d.cr = p[len(p)-1] == '\r'
			return total, nil
		}
		if _, err := d.w.Write(p[:i]); err != nil {
			return total - len(p), err
		}
		cr := d.cr
		if i > 0 {
			cr = p[i-1] == '\r'
		}
		end := "\n"
		if !cr {
			end = "\r\n"
		}
		if _, err := d.w.WriteString(end); err != nil {
			return total - len(p), err
		}
		d.lineLen += i
		d.endLine(d.lineLen == 0 || (d.lineLen == 1 && cr))
		p = p[i+1:]
	}
	return total, nil
}

// endLine accounts for a completed line.
func (d *dotWriter) endLine(empty bool) {
	d.bol, d.cr, d.lineLen = true, false, 0
	switch {
	case d.body < 0:
	case d.header:
		d.header = !empty
	default:
		d.body--
	}
}

// finish ends an unterminated last line and writes the terminating "." line.
func (d *dotWriter) finish() error {
	if !d.bol {
		if _, err := d.w.WriteString("\r\n"); err != nil {
			return err
		}
	}
	_, err := d.w.WriteString(".\r\n")
	return err
}
